"""Flight recorder: every input the agent hands the pure core, with the clock, in rotating files.

The core (core/engine.py) is a function of its inputs and the clock, so these records are enough to run it again
(``bgpsteer replay``, replay/): the lines ExaBGP wrote (decoded again on replay), probe rounds and pushed
measurements, load reports, drains, config swaps (each config's text stored once, by digest), the decision
passes the agent ran (when, and how many prefixes: slicing is the adapter's choice), the ticks, the state
restored at start, and the decision ids the adapter itself used (reconcile).

One line per record, ``KIND<TAB>TIME<TAB>PAYLOAD``: TIME is ``repr(float)`` (exact), PAYLOAD the ExaBGP line as
read (kind ``L``) or a JSON array.  A run (one helper process) writes ``RUN.NNNNN.rec`` segments under
``state_dir/recording``; a full segment is closed and gzipped on a thread (zlib releases the GIL: the other
core does it), and the oldest files go once the directory exceeds ``agent.record_max_bytes``.  Buffered
writes, flushed every tick (0.1 s): a crash loses at most that much of the recording.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from bgpsteer.config.loader import digest as config_digest
from bgpsteer.core.inputs import (
    ConfigSwap,
    DecisionPass,
    DrainChange,
    Input,
    LoadReport,
    ProbeRound,
    RecoveredState,
    Relearning,
    Restore,
    Start,
    Tick,
    TunnelReading,
)
from bgpsteer.core.measure import Sample
from bgpsteer.core.tunnel import TunnelFacts
from bgpsteer.runtime import statefile

log = logging.getLogger("bgpsteer")

DIR = "recording"
SEGMENT_BYTES = 16 * 1024 * 1024  # raw bytes per segment before it is closed and compressed
BUFFER = 1 << 20
FILE_MODE = 0o600  # the config (passwords) and every route: root only

# record kinds
LINE = "L"  # a line ExaBGP wrote
RECOVERED = "H"  # [peer, state, fsm]: a cloud peer's session state read from ExaBGP's summary after a restart
RELEARN = "E"  # [peer]: its route refresh went out (what it sends from now counts as relearned)
FLUSH = "F"  # [limit|null]: a decision pass over at most limit dirty prefixes
TICK = "T"  # []: timers (hold-downs, dampening, relief)
PROBE = "P"  # [egress, [[target, ok, rtt_ms, reason], ...], pushed]: one probe round or pushed measurements
LOAD = "U"  # [{egress: mbps}, {prefix: mbps}, source, max_age]: a load report (relief; older: the first two)
TUNNEL = "W"  # [egress, readable, present, link_up, stamp, age, detail, expires_in]: a tunnel reading
DRAIN = "D"  # [egress, on]
CONFIG = "C"  # [digest, file]: a config swapped in (reload); text in config-DIGEST.yaml
RESTORE = "S"  # [state, saved_at]: what the state file held at start
START = "B"  # []: the start (next-hop routes of the egresses in service)
ADAPTER = "N"  # [decision id, reason, [[prefix, path id], ...]]: a decision the adapter made (reconcile)
BEGIN = "R"  # [run, digest, file, version]: first record of every run: the config it started with

KINDS = frozenset(
    {LINE, RECOVERED, RELEARN, FLUSH, TICK, PROBE, LOAD, TUNNEL, DRAIN, CONFIG, RESTORE, START, ADAPTER, BEGIN}
)
FORMAT = 1


def encode(inp: Input) -> tuple[str, list[Any]] | None:  # noqa: PLR0911 - one case per input type
    """An input's record kind and payload (None: a BGP event, kept as the line it came in; a config swap is kept
    with its text by ``Recorder.config``)."""
    match inp:
        case RecoveredState(peer, state, fsm):
            return RECOVERED, [peer, state, fsm]
        case Relearning(peer):
            return RELEARN, [peer]
        case DecisionPass(limit):
            return FLUSH, [limit]
        case Tick():
            return TICK, []
        case ProbeRound(egress, samples, pushed):
            return PROBE, [egress, [[x.target, x.ok, x.rtt_ms, x.reason] for x in samples], pushed]
        case LoadReport(utilization, volumes, source, max_age):
            return LOAD, [dict(utilization), dict(volumes), source, max_age]
        case TunnelReading(f):
            stamp, age = f.handshake_stamp, f.handshake_age
            return TUNNEL, [f.egress, f.readable, f.present, f.link_up, stamp, age, f.detail, f.expires_in]
        case DrainChange(egress, on):
            return DRAIN, [egress, on]
        case Restore(state, saved_at):
            return RESTORE, [dict(state), saved_at]
        case Start():
            return START, []
    return None


# record kind -> the input its payload holds (the kinds that are not an input by themselves are not here: a line,
# which the codec decodes; a config, whose text is kept apart; the adapter's own decisions; a run's first record)
DECODE: dict[str, Callable[[list[Any]], Input]] = {
    RECOVERED: lambda p: RecoveredState(p[0], p[1], p[2]),
    RELEARN: lambda p: Relearning(p[0]),
    FLUSH: lambda p: DecisionPass(p[0]),
    TICK: lambda p: Tick(),
    PROBE: lambda p: ProbeRound(p[0], tuple(Sample(s[0], s[1], s[2], s[3]) for s in p[1]), bool(p[2:3] and p[2])),
    LOAD: lambda p: LoadReport(p[0], p[1], *p[2:4]),
    TUNNEL: lambda p: TunnelReading(TunnelFacts(*p)),
    DRAIN: lambda p: DrainChange(p[0], p[1]),
    RESTORE: lambda p: Restore(p[0], p[1]),
    START: lambda p: Start(),
}


def run_id(now: float, pid: int) -> str:
    """Sorts by start time: ``20261202T065559-1234``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"-{pid}"


class Recorder:
    def __init__(self, directory: Path, max_bytes: int, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max(4096, max_bytes // 4))  # at least 4 segments fit the bound
        self.run = run_id(time.time(), os.getpid())
        self.errors = 0
        self.records = 0
        self.seq = 0
        self._size = 0
        self._fh: BinaryIO | None = None
        self._compressing: list[threading.Thread] = []
        statefile.ensure_dir(directory)
        self._open()

    # -- writing ------------------------------------------------------------------

    def line(self, now: float, line: str) -> None:
        self._write(b"L\t%r\t%s\n" % (now, line.rstrip("\n").encode()))

    def input(self, now: float, inp: Input) -> None:
        """One input of the core, as the engine got it (a BGP event is in the line recorded before it)."""
        if isinstance(inp, ConfigSwap):
            if inp.text is None:  # not from a file (tests): the recording cannot be replayed past this point
                log.warning("flight recorder: config %s swapped in without its text", inp.config.digest)
            self.config(now, inp.text or "", inp.config.digest, inp.config.source)
            return
        encoded = encode(inp)
        if encoded is not None:
            self.record(encoded[0], now, *encoded[1])

    def record(self, kind: str, now: float, *payload: Any) -> None:
        self._write(b"%s\t%r\t%s\n" % (kind.encode(), now, orjson.dumps(list(payload))))

    def config(self, now: float, text: str, digest: str, file: str, begin: bool = False) -> None:
        """A config in use from ``now``: its text kept once per digest (replay parses it again)."""
        target = self.directory / f"config-{digest}.yaml"
        if not target.exists() and config_digest(text) == digest:
            try:
                tmp = target.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                os.replace(tmp, target)
            except OSError as exc:
                self.errors += 1
                log.error("flight recorder: cannot keep config %s: %s", digest, exc)
        if begin:
            self.record(BEGIN, now, self.run, digest, file, FORMAT)
        else:
            self.record(CONFIG, now, digest, file)

    def _write(self, data: bytes) -> None:
        if self._fh is None:
            return
        try:
            self._fh.write(data)
        except OSError:
            self.errors += 1  # a full disk must not stop steering: counted (bgpsteer_recorder_errors_total)
            return
        self.records += 1
        self._size += len(data)
        if self._size >= self.segment_bytes:
            self._rotate()

    def flush(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
            except OSError:
                self.errors += 1

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None
        for t in self._compressing:
            t.join(timeout=30)

    # -- segments ---------------------------------------------------------------

    def _path(self, seq: int) -> Path:
        return self.directory / f"{self.run}.{seq:05d}.rec"

    def _open(self) -> None:
        try:
            fd = os.open(self._path(self.seq), os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            self._fh = os.fdopen(fd, "ab", buffering=BUFFER)
        except OSError as exc:
            self.errors += 1
            self._fh = None
            log.error("flight recorder off: %s", exc)
        self._size = 0

    def _rotate(self) -> None:
        assert self._fh is not None
        done = self._path(self.seq)
        try:
            self._fh.close()
        except OSError:
            self.errors += 1
        self.seq += 1
        self._open()
        self._compressing = [t for t in self._compressing if t.is_alive()]
        t = threading.Thread(target=self._compress, args=(done,), name="recorder-gzip", daemon=True)
        self._compressing.append(t)
        t.start()

    def _compress(self, path: Path) -> None:
        """Off the event loop: gzip a closed segment, then keep the directory within its bound."""
        try:
            target = path.with_suffix(".rec.gz")
            tmp = target.with_suffix(".tmp")
            with open(path, "rb") as src, gzip.open(tmp, "wb", compresslevel=3) as dst:
                shutil.copyfileobj(src, dst, BUFFER)
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
            path.unlink()
        except OSError as exc:
            self.errors += 1
            log.error("flight recorder: cannot compress %s: %s", path, exc)
        self._bound()

    def _bound(self) -> None:
        """Oldest segments go first: compressed ones, and raw ones of earlier runs (a killed run leaves its last
        one raw); never this run's raw segments (written or being compressed).  The configs stay (one small file
        per digest, so reloads bound them)."""
        try:
            own = f"{self.run}."
            segments = sorted(
                (
                    p
                    for p in self.directory.iterdir()
                    if p.name.endswith(".rec.gz") or (p.name.endswith(".rec") and not p.name.startswith(own))
                ),
                key=lambda p: p.name,
            )
            total = sum(p.stat().st_size for p in self.directory.iterdir() if ".rec" in p.name)
            for p in segments:
                if total <= self.max_bytes:
                    break
                total -= p.stat().st_size
                p.unlink(missing_ok=True)
        except OSError as exc:
            self.errors += 1
            log.error("flight recorder: cannot bound %s: %s", self.directory, exc)
