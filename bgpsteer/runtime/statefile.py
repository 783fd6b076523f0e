"""What the agent keeps across restarts in state_dir: egress health, dampening, drain, the last decision id.

Written atomically (temporary file, then rename) whenever an egress changes state or is drained, and at
shutdown; read once at start, before anything is announced.  A missing, unreadable or malformed file
is logged and means a fresh start (every egress up), never a crash.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("bgpsteer")

NAME = "agent-state.json"


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.error("agent state %s unreadable (%s): starting fresh, every egress up until probed", path, exc)
        return {}
    if not isinstance(data, dict):
        log.error("agent state %s is not an object: starting fresh", path)
        return {}
    return data


DIR_MODE = 0o750  # state_dir when bgpsteer creates it: the control group may reach the socket, others see nothing


def ensure_dir(path: Path) -> None:
    """Create the state directory (and parents) if missing, with DIR_MODE; an existing one is left as the operator made
    it."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(DIR_MODE)


def save(path: Path, data: dict[str, Any]) -> bool:
    tmp = path.with_name(path.name + ".tmp")
    try:
        ensure_dir(path.parent)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
        return True
    except OSError as exc:
        log.error("agent state %s not written: %s", path, exc)
        return False
