"""Everything the core consumes, as one typed input, applied by one function.

The agent (runtime/agent.py) hands the engine nothing else, the flight recorder (runtime/recorder.py) records
these, and replay (replay/rerun.py) applies them again through the same ``apply``: a change of an engine method's
signature breaks all three at type-check time, never replay alone and silently.  BGP events come from ExaBGP's
lines: the recorder keeps the line (the codec's input), so a replay decodes it again and a codec change shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from bgpsteer.core.config import Config
from bgpsteer.core.events import Effect, Event, PeerState
from bgpsteer.core.measure import Sample
from bgpsteer.core.tunnel import TunnelFacts

if TYPE_CHECKING:
    from bgpsteer.core.engine import Engine


@dataclass(frozen=True, slots=True)
class BgpEvent:
    """One event decoded from ExaBGP (a session state, announced or withdrawn routes, End-of-RIB, ...)."""

    event: Event


@dataclass(frozen=True, slots=True)
class RecoveredState:
    """A cloud peer's session state read from ExaBGP's summary after a helper restart (ExaBGP replays no
    neighbor-change): not a change, so a session up all along is not taken to have sent its table again."""

    peer: str
    state: str
    fsm: str


@dataclass(frozen=True, slots=True)
class Relearning:
    """A cloud peer's route refresh went out: what it sends from now counts as its relearned table."""

    peer: str


@dataclass(frozen=True, slots=True)
class DecisionPass:
    """Decide at most ``limit`` dirty prefixes (None: all); the adapter chooses the slices."""

    limit: int | None


@dataclass(frozen=True, slots=True)
class Tick:
    """Timers: hold-downs, dampening, relief."""


@dataclass(frozen=True, slots=True)
class ProbeRound:
    """One probe round of an egress, or measurements pushed for it."""

    egress: str
    samples: tuple[Sample, ...]
    pushed: bool = False  # measurements pushed by another tool, not the agent's own probes


@dataclass(frozen=True, slots=True)
class TunnelReading:
    """What an egress's tunnel was read to be (a link event, a WireGuard handshake reading)."""

    facts: TunnelFacts


@dataclass(frozen=True, slots=True)
class LoadReport:
    """Utilization per egress and volume per prefix, Mbit/s (relief), from ``source`` ("pushed": bgpsteer load;
    "counter": an interface's counters), holding for ``max_age`` seconds (None: until the next)."""

    utilization: Mapping[str, float]
    volumes: Mapping[str, float]
    source: str = "pushed"
    max_age: float | None = None


@dataclass(frozen=True, slots=True)
class DrainChange:
    """Drain (RFC 8326) or undrain an egress; the prefixes are decided by later passes."""

    egress: str
    on: bool


@dataclass(frozen=True, slots=True)
class ConfigSwap:
    """A validated configuration swapped in (reload); the prefixes are decided by later passes."""

    config: Config
    text: str | None  # the file's text, which the flight recorder keeps (None: not from a file, tests)


@dataclass(frozen=True, slots=True)
class Restore:
    """What an earlier run knew (egress health, dampening, drain, decision ids), before start."""

    state: Mapping[str, Any]
    saved_at: float


@dataclass(frozen=True, slots=True)
class Start:
    """The start: the next-hop routes of the egresses in service."""


Input = Union[
    BgpEvent,
    RecoveredState,
    Relearning,
    DecisionPass,
    Tick,
    ProbeRound,
    TunnelReading,
    LoadReport,
    DrainChange,
    ConfigSwap,
    Restore,
    Start,
]


def apply(engine: Engine, inp: Input, now: float) -> list[Effect]:  # noqa: C901, PLR0911 - one case per input type
    """The one way into the engine: its effects (commands, log lines, decisions) for the adapter to carry out."""
    match inp:
        case BgpEvent(event):
            return engine.handle(event, now)
        case RecoveredState(peer, state, fsm):
            return engine.handle(PeerState(peer, state, f"recovered from ExaBGP ({fsm})", changed=False), now)
        case DecisionPass(limit):
            return engine.flush(now, limit)
        case Tick():
            return engine.tick(now)
        case ProbeRound(egress, samples, _):
            return engine.probe_round(egress, samples, now)
        case TunnelReading(facts):
            return engine.tunnel(facts, now)
        case LoadReport(utilization, volumes, source, max_age):
            return engine.report_load(dict(utilization), dict(volumes), now, source, max_age)
        case DrainChange(egress, on):
            return engine.drain(egress, on, now, decide=False)
        case ConfigSwap(config, _):
            return engine.reload(config, now, decide=False)
        case Restore(state, saved_at):
            return engine.restore(dict(state), saved_at)
        case Start():
            return engine.start(now)
        case Relearning(peer):
            engine.relearning(peer, now)
            return []
    raise TypeError(f"not an input of the core: {inp!r}")
