"""How the NOC commands print: aligned tables for people, colour only on a terminal, JSON for tools."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

COLOURS = {
    "up": "green",
    "in service": "green",
    "down": "red",
    "OUT": "red",
    "recovering": "yellow",
    "idle": "yellow",
    "connected": "yellow",
}


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Aligned columns; state words coloured after padding (click drops colour when not on a terminal)."""
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [click.style("  ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)).rstrip(), bold=True)]
    for r in cells[1:]:
        padded = [
            click.style(c, fg=COLOURS[c]) + " " * (w - len(c)) if c in COLOURS else c.ljust(w)
            for c, w in zip(r, widths, strict=True)
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def emit(as_json: bool, data: Any, human: Callable[[Any], str]) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else human(data))


def ago(t: float | None) -> str:
    return "never" if not t else f"{time.time() - t:.1f}s ago"
