"""Decision journal: every change of an announcement, as JSON lines, rotated, kept across restarts.

Two kinds of records:
    {"t": time, "id": decision, "kind": "route", "prefix": P, "path_id": N, "egress": E,
     "old": attrs|null, "new": attrs|null, "reason": why}
    {"t": time, "id": decision, "kind": "egress", "egress": E, "class": C|null, "old": state, "new": state,
     "in_service": bool, "reason": why}
    {"t": time, "id": null, "kind": "drift", "core": C, "source": "cli"|"bmp", "prefix": P, "drift": kind,
     "state": "started"|"ended", "reason": words}
An egress record stands for every path through that egress (failover is O(1)
on the wire, so it is one record here too), or with a class for its SLA fit
for that class's sessions; a drift record says when a monitored core began or
stopped holding a prefix otherwise than intended (not a decision: replay leaves
it out); ``history PREFIX`` shows all three.

The file is appended to and rotated at ``max_bytes`` (journal.jsonl ->
journal.jsonl.1 -> ... up to ``keep`` files), so its size is bounded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from bgpsteer.core.codes import trigger_code
from bgpsteer.core.drift import Drift
from bgpsteer.core.events import Changed, EgressChanged
from bgpsteer.core.model import AgentSettings, default
from bgpsteer.runtime import statefile

MAX_BYTES: int = default(AgentSettings, "journal_max_bytes")  # the model's default, not a copy
FILE_MODE = 0o640
KEEP = 4


class Journal:
    def __init__(self, path: Path, egress_of: dict[int, str], max_bytes: int = MAX_BYTES, keep: int = KEEP) -> None:
        self.path = path
        self.egress_of = egress_of  # path id -> egress id
        self.max_bytes = max_bytes
        self.keep = keep
        self.errors = 0
        statefile.ensure_dir(path.parent)
        self.repaired = repair(path)
        self._fh = _open(path)

    def record(self, effect: Changed | EgressChanged) -> None:
        try:
            lines = [orjson.dumps(r) for r in rows(effect, self.egress_of)]
            self._fh.write(b"\n".join(lines) + b"\n")
            self._fh.flush()
            if self._fh.tell() >= self.max_bytes:
                self._rotate()
        except OSError:
            self.errors += 1  # a full disk must not stop steering; counted and exported as a metric

    def drift(self, now: float, core: str, source: str, started: list[Drift], ended: list[tuple[str, str]]) -> None:
        """Drift that began (with its words) and ended (prefix, kind) on one core, as read by one source."""
        base = {"t": now, "id": None, "kind": "drift", "core": core, "source": source}
        recs = [base | {"prefix": d.prefix, "drift": d.kind, "state": "started", "reason": d.detail} for d in started]
        recs += [base | {"prefix": p, "drift": k, "state": "ended", "reason": ""} for p, k in ended]
        if not recs:
            return
        try:
            self._fh.write(b"\n".join(orjson.dumps(r) for r in recs) + b"\n")
            self._fh.flush()
            if self._fh.tell() >= self.max_bytes:
                self._rotate()
        except OSError:
            self.errors += 1

    def _rotate(self) -> None:
        """Shift the files by renames that never replace an existing file (cheap), and free the oldest one on a
        thread: replacing or unlinking a 64 MB file makes the filesystem free its blocks inside the call
        (measured: 100-300 ms of the event loop, during a drain at 1M routes)."""
        self._fh.close()
        name = self.path.name
        oldest = self.path.with_name(f"{name}.{self.keep}")
        doomed = self.path.with_name(f"{name}.{self.keep}.deleting")
        if oldest.exists():
            os.replace(oldest, doomed)
        for i in range(self.keep - 1, 0, -1):
            src = self.path.with_name(f"{name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{name}.1"))
        self._fh = _open(self.path)
        if doomed.exists():
            threading.Thread(
                target=doomed.unlink, kwargs={"missing_ok": True}, name="journal-rotate", daemon=True
            ).start()

    def close(self) -> None:
        self._fh.close()


def rows(effect: Changed | EgressChanged, egress_of: dict[int, str]) -> list[dict[str, Any]]:
    """The journal's records of one decision (replay compares its own with these)."""
    if isinstance(effect, EgressChanged):
        return [
            {
                "t": effect.time,
                "id": effect.decision,
                "kind": "egress",
                "egress": effect.egress,
                "class": effect.app_class,
                "old": effect.old,
                "new": effect.new,
                "in_service": effect.in_service,
                "reason": effect.reason,
            }
        ]
    code = int(trigger_code(effect.kind))
    return [
        {
            "t": effect.time,
            "id": effect.decision,
            "kind": "route",
            "prefix": prefix,
            "path_id": pid,
            "egress": egress_of.get(pid, "?"),
            "old": old.describe() if old else None,
            "new": new.describe() if new else None,
            "reason": effect.reason,
            "code": code,
        }
        for prefix, pid, old, new in effect.changes
    ]


def _open(path: Path) -> BinaryIO:
    """For appending, kept open for the agent's lifetime; 0640: decisions are operational data, not for everyone."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE), "ab")


def repair(path: Path) -> int:
    """Cut a last line torn by a kill (no newline at the end), so the next record starts on a line of its own.
    Returns the bytes dropped."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return 0
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return 0
            back = min(size, 1 << 20)  # records are small; a torn one is within the last MiB
            fh.seek(size - back)
            tail = fh.read(back)
            cut = size - back + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
            fh.truncate(cut)
            return size - cut
    except FileNotFoundError:
        return 0


def last_decision(path: Path, keep: int = KEEP) -> int:
    """The highest decision id in the newest journal file that has records (0 if none)."""
    for f in reversed(files(path, keep)):
        with open(f, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - (1 << 16)))
            best = 0
            for line in fh.read().splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("id"), int):
                    best = max(best, rec["id"])
            if best:
                return best
    return 0


def files(path: Path, keep: int = KEEP) -> list[Path]:
    """Journal files oldest first."""
    rotated = [path.with_name(f"{path.name}.{i}") for i in range(keep, 0, -1)]
    return [p for p in [*rotated, path] if p.exists()]


def read(path: Path, keep: int = KEEP) -> Iterator[dict[str, Any]]:
    for f in files(path, keep):
        with open(f, "rb") as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash


def history(path: Path, prefix: str, limit: int = 200) -> list[dict[str, Any]]:
    """Records about one prefix, plus the egress events of every egress it was announced through."""
    out: list[dict[str, Any]] = []
    egresses: set[str] = set()
    egress_events: list[dict[str, Any]] = []
    for r in read(path):
        if r.get("kind") == "route" and r.get("prefix") == prefix:
            out.append(r)
            egresses.add(r.get("egress", ""))
        elif r.get("kind") == "drift" and r.get("prefix") == prefix:
            out.append(r)
        elif r.get("kind") == "egress":
            egress_events.append(r)
    out += [e for e in egress_events if e.get("egress") in egresses]
    out.sort(key=lambda r: (r.get("t", 0), r.get("id") or 0))
    return out[-limit:]
