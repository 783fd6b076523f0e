"""Run the pure core again on a recorded run's inputs: the same calls, in the same order, with the same clock.

What comes out is what the agent's journal holds (same records: runtime/journal.py ``rows``) and, for the
NOC's question "which prefixes left through which egress, when", the primary egress of every prefix over time
(core/ranking.py, as the default sessions' core ranks the paths).  With another config, every config of the
recording is replaced by it: the same inputs, the new policy's decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core import inputs
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Changed, Effect, EgressChanged
from bgpsteer.core.ranking import core_choice
from bgpsteer.exabgp import codec
from bgpsteer.replay.recording import Record, RecordingError, Run
from bgpsteer.runtime import journal, recorder


@dataclass(frozen=True, slots=True)
class Move:
    """A prefix's primary egress changed (None: no usable path)."""

    time: float
    prefix: str
    old: str | None
    new: str | None
    reason: str


@dataclass
class Outcome:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the journal's records of every decision
    moves: list[Move] = field(default_factory=list)
    records: int = 0
    first: float | None = None
    last: float | None = None
    configs: list[str] = field(default_factory=list)  # digests swapped in, in order
    skipped: list[str] = field(default_factory=list)  # inputs the new config could not take (an unknown egress)


class _Primary:
    """Each prefix's primary egress, followed through the decisions (announcements and egress service)."""

    def __init__(self) -> None:
        self.out: dict[str, dict[int, Attrs]] = {}
        self.by_pid: dict[int, set[str]] = {}
        self.primary: dict[str, int | None] = {}
        self.down: set[int] = set()
        self.egress_of: dict[int, str] = {}
        self.pid_of: dict[str, int] = {}

    def config(self, cfg: Config) -> None:
        self.egress_of = cfg.egress_of
        self.pid_of = {e.id: e.path_id for e in cfg.egresses}

    def _name(self, pid: int | None) -> str | None:
        return None if pid is None else self.egress_of.get(pid, f"path id {pid}")

    def _judge(self, prefix: str, t: float, reason: str, moves: list[Move]) -> None:
        paths = self.out.get(prefix, {})
        usable = {pid for pid in paths if pid not in self.down}
        new = core_choice(list(paths.items()), usable)[0] if paths else None
        old = self.primary.get(prefix)
        if new != old:
            moves.append(Move(t, prefix, self._name(old), self._name(new), reason))
            self.primary[prefix] = new

    def changed(self, e: Changed, moves: list[Move]) -> None:
        touched = set()
        for prefix, pid, _old, new in e.changes:
            if new is None:
                self.out.get(prefix, {}).pop(pid, None)
                self.by_pid.get(pid, set()).discard(prefix)
            else:
                self.out.setdefault(prefix, {})[pid] = new
                self.by_pid.setdefault(pid, set()).add(prefix)
            touched.add(prefix)
        for prefix in sorted(touched):
            self._judge(prefix, e.time, e.reason, moves)

    def egress(self, e: EgressChanged, moves: list[Move]) -> None:
        pid = self.pid_of.get(e.egress)
        if e.app_class is not None or pid is None:
            return  # a class's SLA fit moves that class's sessions only, not the default ones followed here
        before = pid in self.down
        if e.in_service:
            self.down.discard(pid)
        else:
            self.down.add(pid)
        if before != (pid in self.down):
            for prefix in sorted(self.by_pid.get(pid, ())):
                self._judge(prefix, e.time, f"{e.subject}: {e.reason}", moves)


class _Rerun:
    """The agent's inputs to the engine, applied again by the same function (core/inputs.py apply)."""

    def __init__(self, run: Run, override: Config | None) -> None:
        self.run = run
        self.override = override
        self.out = Outcome()
        self.engine: Engine | None = None
        self.decoder = codec.Decoder()
        self.primary = _Primary()  # also holds the current config's path id -> egress id
        # the kinds that are not one input by themselves (the rest: recorder.DECODE, applied by inputs.apply)
        self.steps: dict[str, Callable[[Engine, float, Any], list[Effect]]] = {
            recorder.LINE: self._line,
            recorder.CONFIG: self._config,
            recorder.ADAPTER: self._adapter,
        }

    def config_of(self, digest: str, file: str) -> Config:
        if self.override is not None:
            return self.override
        try:
            return parse(self.run.config_text(digest), file)
        except ConfigError as exc:
            raise RecordingError(f"recorded config {digest} ({file}) no longer parses: {exc}") from exc

    def take(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, (Changed, EgressChanged)):
                self.out.rows.extend(journal.rows(e, self.primary.egress_of))
                if isinstance(e, Changed):
                    self.primary.changed(e, self.out.moves)
                else:
                    self.primary.egress(e, self.out.moves)

    def feed(self, rec: Record) -> None:
        out, t, p = self.out, rec.time, rec.payload
        out.records += 1
        out.first = t if out.first is None else out.first
        out.last = t
        if rec.kind == recorder.BEGIN:
            if self.engine is not None:
                raise RecordingError(f"run {self.run.run}: a second start record at {t}")
            cfg = self.config_of(p[1], p[2])
            self.engine = Engine(cfg)
            self.primary.config(cfg)
            out.configs.append(p[1])
            return
        if self.engine is None:
            raise RecordingError(f"run {self.run.run}: records before its start record")
        decode = recorder.DECODE.get(rec.kind)
        if decode is not None:
            self.take(self._apply(self.engine, t, decode(p)))
            return
        step = self.steps.get(rec.kind)
        if step is None:
            raise RecordingError(f"record kind {rec.kind!r} at {t}")
        self.take(step(self.engine, t, p))

    def _apply(self, engine: Engine, t: float, inp: inputs.Input) -> list[Effect]:
        """The input as the agent applied it; under another config, one naming an egress it lacks is skipped."""
        if isinstance(inp, (inputs.ProbeRound, inputs.DrainChange)) and inp.egress not in engine.config.egress_ids():
            what = "probe round" if isinstance(inp, inputs.ProbeRound) else "drain"
            self.out.skipped.append(f"{t}: {what} of egress {inp.egress} (not in this config)")
            return []
        return inputs.apply(engine, inp, t)

    def _line(self, engine: Engine, t: float, line: Any) -> list[Effect]:
        effects: list[Effect] = []
        for item in self.decoder.decode(line):
            if isinstance(item, codec.BGP_EVENTS):
                effects += inputs.apply(engine, inputs.BgpEvent(item), t)
        return effects

    def _config(self, engine: Engine, t: float, p: Any) -> list[Effect]:
        if self.override is not None:
            self.out.skipped.append(f"{t}: reload of config {p[0]} (the new config stays)")
            return []
        self.out.configs.append(p[0])
        effects = inputs.apply(engine, inputs.ConfigSwap(self.config_of(p[0], p[1]), None), t)
        self.primary.config(engine.config)
        return effects

    @staticmethod
    def _adapter(engine: Engine, t: float, p: Any) -> list[Effect]:
        decision = engine.next_decision()  # the id the agent took for it; its content is as recorded
        return [Changed(decision, t, p[1], [(prefix, pid, None, None) for prefix, pid in p[2]])]


def rerun(run: Run, records: Iterable[Record], override: Config | None = None) -> Outcome:
    """The decisions the core makes on the run's inputs (with ``override``: under that config throughout)."""
    r = _Rerun(run, override)
    for rec in records:
        r.feed(rec)
    return r.out
