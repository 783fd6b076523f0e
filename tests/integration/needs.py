"""Skip a real-daemon test module where its tools are missing — except in CI, where that is a failure.

.ci/install provides every tool; .ci/test sets BGPSTEER_REQUIRE_DAEMONS=1 so that a missing daemon (or
running without root) fails the run with the reason instead of letting it go green on the unit tiers.
"""

from __future__ import annotations

import os
import shutil

import pytest

LAB_TOOLS = ("ip", "bird", "birdc", "vtysh", "nft")


def lab_tools(*extra: str) -> None:
    """Module-level: skip (or, in CI, fail) unless root and every tool is installed (the lab's daemons plus extra)."""
    missing = [t for t in (*LAB_TOOLS, *extra) if shutil.which(t) is None]
    if not os.path.exists("/usr/lib/frr/bgpd"):
        missing.append("/usr/lib/frr/bgpd")
    if os.geteuid() != 0 or missing:
        why = "needs root" if os.geteuid() != 0 else f"missing {', '.join(missing)}"
        if os.environ.get("BGPSTEER_REQUIRE_DAEMONS") == "1":
            pytest.fail(f"real-daemon tests cannot run: {why} (run .ci/install, see README)", pytrace=False)
        pytest.skip(f"{why} (run .ci/install, see README)", allow_module_level=True)
