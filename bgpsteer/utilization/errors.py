"""What every utilization reader raises when it has no reading: unknown, never zero."""

from __future__ import annotations


class ReadError(Exception):
    """No reading, for the stated reason."""
