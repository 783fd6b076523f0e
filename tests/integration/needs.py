"""Skip a real-daemon test module cleanly where its tools are missing (.ci/install provides them all)."""

from __future__ import annotations

import os
import shutil

import pytest

LAB_TOOLS = ("ip", "bird", "birdc", "vtysh", "nft")


def lab_tools(*extra: str) -> None:
    """Module-level: skip unless root and every tool is installed (the lab's daemons plus extra)."""
    missing = [t for t in (*LAB_TOOLS, *extra) if shutil.which(t) is None]
    if not os.path.exists("/usr/lib/frr/bgpd"):
        missing.append("/usr/lib/frr/bgpd")
    if os.geteuid() != 0 or missing:
        why = "needs root" if os.geteuid() != 0 else f"missing {', '.join(missing)}"
        pytest.skip(f"{why} (run .ci/install, see README)", allow_module_level=True)
