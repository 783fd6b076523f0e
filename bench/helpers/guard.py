"""What every bench checks before it prints a number: that it measured something.

A bench never compares a number with a threshold; it fails (non-zero exit, one line saying why) when the thing
it measures did not happen: no route loaded, no row produced, the helper dead or rejecting the lines it is fed,
a root-only bench started without root.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sized
from typing import NoReturn


def fail(why: str) -> NoReturn:
    """Stop the bench: SystemExit unwinds every ``finally`` and context manager (namespaces, processes)."""
    raise SystemExit(f"{os.path.basename(sys.argv[0])}: FAILED: {why}")


def need_root() -> None:
    """Root-only benches build network namespaces and start real daemons: say so at once, never hang."""
    if os.geteuid() != 0:
        raise SystemExit(
            f"{os.path.basename(sys.argv[0])}: needs root (it builds network namespaces and starts FRR, BIRD and "
            "ExaBGP in them); run it as root after `bash .ci/install`"
        )


def need_some(what: str, items: Sized | int) -> None:
    """A bench that produced no rows, or loaded no routes, measured nothing: fail instead of printing a header."""
    count = items if isinstance(items, int) else len(items)
    if count <= 0:
        fail(f"{what}: none (the bench measured nothing)")
