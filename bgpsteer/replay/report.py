"""What ``bgpsteer replay`` shows: the decisions of a re-run, checked against the journal, or set against another
policy's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from bgpsteer.replay.rerun import Move, Outcome
from bgpsteer.runtime import journal

SHOWN_PROBLEMS = 10  # differences listed (the first ones matter: the rest usually follow from them)
SHOWN_MOVES = 4  # moves per prefix in a comparison


def parse_time(text: str, start: float) -> float:
    """``--from``/``--until``: epoch seconds, ISO 8601 (UTC unless it says), or ``+SECONDS`` from the run's start."""
    text = text.strip()
    if text.startswith("+"):
        return start + float(text[1:])
    try:
        return float(text)
    except ValueError:
        pass
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def window(items: Iterable[Any], since: float | None, until: float | None, key: str = "t") -> Iterator[Any]:
    for x in items:
        t = x[key] if isinstance(x, dict) else x.time
        if (since is None or t >= since) and (until is None or t <= until):
            yield x


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    """As the journal file holds it (tuples become lists)."""
    result: dict[str, Any] = orjson.loads(orjson.dumps(row))
    return result


def verify(outcome: Outcome, journal_path: Path) -> tuple[int, list[str]]:
    """Compare the re-run's decisions with the journal's records of the same span of time, in order: (records
    compared, differences).  Records outside the run (earlier runs, later runs) are not this run's."""
    if outcome.first is None or outcome.last is None:
        return 0, ["the recording holds no input"]
    first, last = outcome.first, outcome.last
    held = [  # decisions only: drift records say what a core held, which a replay cannot know
        r
        for r in journal.read(journal_path)
        if r.get("kind") in ("route", "egress") and isinstance(r.get("t"), (int, float)) and first <= r["t"] <= last
    ]
    mine = [_canonical(r) for r in outcome.rows]
    problems: list[str] = []
    for i, (a, b) in enumerate(zip(mine, held, strict=False)):
        if a != b:
            problems.append(f"record {i + 1}: journal {orjson.dumps(b).decode()}\n  replay  {orjson.dumps(a).decode()}")
            if len(problems) >= SHOWN_PROBLEMS:
                break
    if len(mine) != len(held):
        problems.append(f"the journal holds {len(held)} records for this run, the replay made {len(mine)}")
    return min(len(mine), len(held)), problems


def decisions_text(rows: list[dict[str, Any]]) -> list[str]:
    """One line per decision record, as ``history`` words them."""
    lines = []
    for r in rows:
        if r["kind"] == "egress":
            subject = f"egress {r['egress']}" + (f" class {r['class']}" if r.get("class") else "")
            lines.append(f"{stamp(r['t'])}  #{r['id']:<6} {subject}: {r['old']} -> {r['new']}  ({r['reason']})")
        else:
            what = "withdraw" if r["new"] is None else ("announce" if r["old"] is None else "update")
            lp = f" lp {r['new']['local_pref']}" if r["new"] else ""
            lines.append(f"{stamp(r['t'])}  #{r['id']:<6} {r['prefix']} via {r['egress']}: {what}{lp}  ({r['reason']})")
    return lines


def moves_text(moves: Iterable[Move]) -> list[str]:
    return [f"{stamp(m.time)}  {m.prefix}: {m.old or 'nothing'} -> {m.new or 'nothing'}  ({m.reason})" for m in moves]


def differences(a: list[Move], b: list[Move]) -> list[dict[str, Any]]:
    """Per prefix whose primary egress over time differs between two re-runs: the first difference."""

    def timeline(moves: list[Move]) -> dict[str, list[tuple[float, str | None]]]:
        per: dict[str, list[tuple[float, str | None]]] = {}
        for m in moves:
            per.setdefault(m.prefix, []).append((m.time, m.new))
        return per

    ta, tb = timeline(a), timeline(b)
    out = []
    for prefix in sorted(set(ta) | set(tb)):
        sa, sb = ta.get(prefix, []), tb.get(prefix, [])
        if sa == sb:
            continue
        i = next((k for k, (x, y) in enumerate(zip(sa, sb, strict=False)) if x != y), min(len(sa), len(sb)))
        at = min(x[0] for x in (sa[i : i + 1] + sb[i : i + 1]))
        before = sa[i - 1][1] if i else None
        out.append(
            {
                "prefix": prefix,
                "time": at,
                "before": before,
                "recorded": [(t, e) for t, e in sa[i:]],
                "new": [(t, e) for t, e in sb[i:]],
            }
        )
    return out


def differences_text(diffs: list[dict[str, Any]]) -> list[str]:
    def seq(items: list[tuple[float, str | None]]) -> str:
        return ", ".join(f"{stamp(t)[11:]} {e or 'nothing'}" for t, e in items[:SHOWN_MOVES]) + (
            " ..." if len(items) > SHOWN_MOVES else ""
        )

    lines = []
    for d in diffs:
        lines.append(f"{d['prefix']}  from {stamp(d['time'])} (was {d['before'] or 'nothing'})")
        lines.append(f"    recorded policy: {seq(d['recorded']) or 'no further move'}")
        lines.append(f"    new policy:      {seq(d['new']) or 'no further move'}")
    return lines
