"""What every reader of a core router's table raises when it has no reading (monitor/frr.py, monitor/bird.py)."""

from __future__ import annotations


class ReadError(Exception):
    """The core's table could not be read, for the stated reason."""
