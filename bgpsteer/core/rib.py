"""The RIB's pieces: a prefix's entry (its candidate paths and what is announced for it), what is known of each
cloud peer, and the engine's counters.  core/engine.py keeps them and runs the passes over them."""

from __future__ import annotations

from dataclasses import dataclass, field

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.decision import EMPTY, OutSet, Path
from bgpsteer.core.model import CloudPeer
from bgpsteer.core.policy import Verdict
from bgpsteer.core.prefix import ParsedPrefix, format_prefix, parse_prefix


class Entry:
    """One prefix: its candidate paths and what is announced for it."""

    __slots__ = ("gen", "out", "parsed", "paths", "prefix_class")

    def __init__(self, parsed: ParsedPrefix, prefix_class: int, gen: int = 0) -> None:
        self.parsed = parsed  # parsed and classified once for import and decision
        self.prefix_class = prefix_class  # an index into Classifier.prefix_classes
        self.paths: list[Path] = []
        self.out: OutSet = EMPTY
        self.gen = gen  # the configuration generation its import verdicts were computed under


def check_prefix(prefix: str, afi: int) -> ParsedPrefix | str:
    """The parsed prefix, or why it cannot be stored: ExaBGP refuses a whole command line for one
    non-canonical prefix (e.g. 44.0.010.0/24), so only the canonical text of the UPDATE's family is kept."""
    try:
        parsed = parse_prefix(prefix)
    except ValueError as exc:
        return str(exc)
    if parsed[0] != afi:
        return f"ipv{parsed[0]} prefix {prefix!r} in an ipv{afi} UPDATE"
    if format_prefix(parsed) != prefix:
        return f"prefix {prefix!r} is not in canonical form ({format_prefix(parsed)})"
    return parsed


@dataclass
class PeerInfo:
    peer: CloudPeer
    state: str = "idle"
    routes: int = 0  # candidate paths held (accepted or not)
    accepted: int = 0
    eor: set[int] = field(default_factory=set)
    max_prefix_hit: bool = False
    refused: int = 0  # routes not stored because max-prefix (action stop) was reached
    last_change: float = 0.0
    last_reason: str = ""
    state_known: bool = False  # a state message (or ExaBGP's summary) was seen since start
    last_heard: float | None = None  # time of its last route or withdraw since start
    relearn_from: float | None = None  # since when what it sends is its table: session up, or route refresh sent
    refreshing: set[int] = field(
        default_factory=set
    )  # families it is re-sending since relearn_from (RFC 7313 BoRR seen)
    refreshed: set[int] = field(default_factory=set)  # families whose re-advertisement ended (EoRR) since relearn_from


@dataclass
class Stats:
    routes_received: int = 0
    routes_withdrawn: int = 0
    announcements: int = 0
    withdrawals: int = 0
    decisions: int = 0
    unknown_peer_events: int = 0
    invalid_prefixes: int = 0  # routes skipped: prefix not parseable, not canonical, or of the wrong family
    last_decision: float = 0.0
    decision_id: int = 0
    # announcements / withdrawals by what triggered them (a small fixed set of kinds)
    by_reason: dict[str, list[int]] = field(default_factory=dict)
    # paths announced now per path id (egress)
    paths_by_path_id: dict[int, int] = field(default_factory=dict)


def path_of(entry: Entry, peer: CloudPeer) -> Path | None:
    for p in entry.paths:
        if p.peer is peer:
            return p
    return None


def store(info: PeerInfo, entry: Entry, existing: Path | None, attrs: Attrs, verdict: Verdict) -> None:
    """A route from a peer into its prefix's entry: a new candidate path, or its existing one updated."""
    if existing is None:
        entry.paths.append(Path(info.peer, attrs, verdict))
        info.routes += 1
        info.accepted += verdict.accepted
    else:
        info.accepted += verdict.accepted - existing.verdict.accepted
        existing.attrs = attrs
        existing.verdict = verdict
