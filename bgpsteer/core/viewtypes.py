"""The values the core's read API answers with (core/view.py): immutable, shared by the view, explain and simulate
without importing one another."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.model import Egress, Scope


class UnknownName(LookupError):
    """A name the configuration does not know (an egress, a class, a cloud peer): a usage error for the NOC."""


@dataclass(frozen=True, slots=True)
class ClassFit:
    """One egress as one application class sees it."""

    app_class: str
    fits_sla: bool
    why: str  # the SLA verdict in words ("" before the first measurement)
    sla_state: str  # the class's own state machine for this egress: up / down / recovering
    in_service: bool  # its next-hop route is announced on the class's sessions
    fail_static: bool  # the class holds its last good set (no egress fits)


@dataclass(frozen=True, slots=True)
class EgressView:
    egress: Egress
    health: str  # up / down / recovering
    health_detail: dict[str, object]
    in_service: bool  # its next-hop route is announced on the default sessions
    drained: bool
    penalty: float  # flap dampening, now
    paths: int  # paths announced through it
    measured: dict[str, float | None]  # latency_ms, jitter_ms, loss_pct, samples (median over targets)
    targets: dict[str, dict[str, object]]
    classes: tuple[ClassFit, ...]
    tunnel: dict[str, object] | None = None  # its tunnel's state (core/tunnel.py); None: no tunnel configured

    @property
    def id(self) -> str:
        return self.egress.id


@dataclass(frozen=True, slots=True)
class PeerView:
    name: str
    address: str
    asn: int
    egress: str
    provider: str
    region: str
    state: str
    since: float | None
    reason: str
    routes: int  # candidate paths held
    accepted: int
    refused: int  # not stored: max-prefix reached
    eor: tuple[int, ...]  # address families whose End-of-RIB it sent


@dataclass(frozen=True, slots=True)
class RankedPath:
    """One announced path of a prefix, in the order the core ranks it (core/ranking.py)."""

    rank: int
    egress: str
    path_id: int
    attrs: Attrs
    in_service: bool  # the core can use it (its egress's next-hop route is announced in the scope)
    tied_with_previous: bool


@dataclass(frozen=True, slots=True)
class Candidate:
    peer: str
    egress: str
    accepted: bool


@dataclass(frozen=True, slots=True)
class PrefixDecision:
    prefix: str
    scope: Scope
    primary: str | None  # the egress the core uses (None: no usable path)
    tie: bool  # the core's own tie-break decides between the first paths
    ranking: tuple[RankedPath, ...]
    candidates: tuple[Candidate, ...]
    shares: dict[str, float] = field(default_factory=dict)  # a multipath prefix: egress -> share of its traffic


@dataclass(frozen=True, slots=True)
class EgressLoad:
    egress: str
    capacity_mbps: float
    load_pct: float | None  # projected utilization / capacity (None: no report yet, or stale)
    moved_off: int  # prefixes relief has moved off it
    mbps: float | None = None  # the last reported utilization (None: none, or stale)
    source: str | None = None  # where it came from: "counter" (interface counters) or "pushed" (bgpsteer load)
    age_s: float | None = None  # seconds since it was reported


@dataclass(frozen=True, slots=True)
class Counters:
    prefixes: int
    routes_received: int
    routes_withdrawn: int
    announcements: int
    withdrawals: int
    decisions: int
    decision_id: int
    last_decision: float
    announced_paths: int
    invalid_prefixes: int
    unknown_peer_events: int
    policy_errors: int
    by_reason: dict[str, tuple[int, int]]  # trigger kind -> (paths announced, withdrawn)


@dataclass(frozen=True)
class ReturnSession:
    """One cloud session's share of the return path."""

    peer: str
    address: str
    cloud: str
    provider: str
    egress: str
    preferred: str | None  # the egress the cloud answers through (None: none of its egresses in service)
    why: str
    split: bool
    routes: dict[str, tuple[str, dict[str, Any], str]]  # prefix -> (role, attributes, why)
    limit: int | None
    left_out: tuple[tuple[str, str], ...]
    asymmetric: tuple[str, ...] = ()  # its cloud's site prefixes whose replies cannot follow the outbound egress


@dataclass(frozen=True)
class SiteLearning:
    """The site's prefixes learned from the core routers (core/sitelearn.py)."""

    routers: tuple[str, ...]  # the core routers learned from
    prefix_set: str
    announced: tuple[tuple[str, str], ...]  # (prefix, where it comes from) announced to the clouds, in priority
    over_max: tuple[str, ...]  # learned but left out by ``max``
    held: int  # of those announced, held after their core session went down, or restored and not yet announced again
    accepted: int
    refused: int
    last_refused: str
    expired: int
    unconfirmed: int
