"""Reading what the flight recorder wrote (runtime/recorder.py): the runs in a directory, one run's records."""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from bgpsteer.runtime import recorder

SEGMENT = re.compile(r"^(?P<run>.+)\.(?P<seq>\d{5})\.rec(?:\.gz)?$")


class RecordingError(Exception):
    """A recording that cannot be replayed (named file, reason)."""


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    time: float
    payload: Any  # the ExaBGP line (kind L) or the decoded JSON array


@dataclass(frozen=True, slots=True)
class Run:
    directory: Path
    run: str
    segments: tuple[Path, ...]  # in order

    @property
    def complete(self) -> bool:
        """Its first segment is still there (the size bound removes the oldest first)."""
        return bool(self.segments) and _seq(self.segments[0]) == 0

    def config_text(self, digest: str) -> str:
        path = self.directory / f"config-{digest}.yaml"
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RecordingError(f"{path}: the config this run used is gone: {exc}") from exc


def _seq(path: Path) -> int:
    m = SEGMENT.match(path.name)
    return int(m["seq"]) if m else -1


def runs(directory: Path) -> list[Run]:
    """Every run recorded in ``directory``, oldest first."""
    if not directory.is_dir():
        raise RecordingError(f"{directory}: not a recording directory (STATE_DIR/{recorder.DIR})")
    found: dict[str, dict[int, Path]] = {}
    for p in directory.iterdir():
        m = SEGMENT.match(p.name)
        if m:
            seq = int(m["seq"])
            # a raw segment and its compressed copy both exist only for a moment (compressing): take the copy
            if seq not in found.setdefault(m["run"], {}) or p.name.endswith(".gz"):
                found[m["run"]][seq] = p
    return [Run(directory, r, tuple(segs[s] for s in sorted(segs))) for r, segs in sorted(found.items())]


def find(path: Path, run: str | None = None) -> Run:
    """The run to replay: ``path`` is the recording directory (its newest run, or ``run``) or one of a run's
    segments."""
    m = SEGMENT.match(path.name)
    if m and path.is_file():
        directory, run = path.parent, m["run"]
    else:
        directory = path
    all_runs = runs(directory)
    if not all_runs:
        raise RecordingError(f"{directory}: no recorded run")
    chosen = next((r for r in all_runs if r.run == run), None) if run else all_runs[-1]
    if chosen is None:
        raise RecordingError(f"{directory}: no run {run!r} (runs: {', '.join(r.run for r in all_runs)})")
    return chosen


def records(run: Run) -> Iterator[Record]:
    """Every record of a run, in order.  A run whose start was removed by the size bound, or with a gap, cannot
    be replayed (the core's state at the cut is unknown): RecordingError.  A last line torn by a crash is
    skipped."""
    if not run.complete:
        first = run.segments[0].name if run.segments else "-"
        raise RecordingError(
            f"{run.directory}: run {run.run} starts at {first}: its first segment was removed by the size bound "
            "(agent.record_max_bytes); replay needs a run from its start"
        )
    for i, seg in enumerate(run.segments):
        if _seq(seg) != i:
            raise RecordingError(f"{seg}: segment {i:05d} of run {run.run} is missing")
        last = i == len(run.segments) - 1
        yield from _read(seg, last)


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
    return open(path, "rb")


def _read(path: Path, last: bool) -> Iterator[Record]:
    try:
        with _open(path) as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    if last:
                        return  # torn by a crash or a kill: the run ends here
                    raise RecordingError(f"{path}:{n}: a torn record inside the run")
                yield _parse(path, n, raw)
    except (OSError, EOFError, zlib.error) as exc:
        if last:
            return  # a segment being compressed when the agent died: what was read stands
        raise RecordingError(f"{path}: {exc}") from exc


def _parse(path: Path, n: int, raw: bytes) -> Record:
    try:
        kind, t, payload = raw[:-1].split(b"\t", 2)
        k = kind.decode()
        if k not in recorder.KINDS:
            raise ValueError(f"unknown record kind {k!r}")
        return Record(k, float(t), payload.decode() if k == recorder.LINE else orjson.loads(payload))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}:{n}: not a flight recorder record: {exc}") from exc
