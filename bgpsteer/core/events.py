"""What goes into the core (events) and what comes out (effects).

The codec turns ExaBGP's JSON into events; the agent turns effects into
ExaBGP commands and log lines.  Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.model import Scope

# -- events --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerState:
    peer: str  # peer address as ExaBGP names it
    state: str  # connected | up | down
    reason: str = ""
    # False: not a change but a state recovered from ExaBGP after a helper restart (a session that has been up all
    # along does not send its table again; only a route refresh makes it)
    changed: bool = True


@dataclass(frozen=True, slots=True)
class RoutesAnnounced:
    peer: str
    afi: int
    attrs: Attrs  # next_hop filled in; shared by every prefix of the batch
    prefixes: list[str]


@dataclass(frozen=True, slots=True)
class RoutesWithdrawn:
    peer: str
    afi: int
    prefixes: list[str]


@dataclass(frozen=True, slots=True)
class EndOfRib:
    peer: str
    afi: int


@dataclass(frozen=True, slots=True)
class RefreshMarker:
    """Enhanced route refresh (RFC 7313): the peer begins or ends re-sending its table of one family (BoRR / EoRR).

    Between the two it re-advertises everything it has: the end marker is proof its table is complete again."""

    peer: str
    afi: int
    end: bool


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    peer: str
    code: int
    subcode: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class HeldRoute:
    """One line of ExaBGP's `show adj-rib out extensive`: a route it holds for a core neighbor."""

    neighbor: str
    prefix: str
    path_id: int


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """One row of ExaBGP's `show neighbor summary`: a session's state, asked for after a helper restart."""

    peer: str
    state: str  # up | connected | down (mapped from ExaBGP's FSM state)
    fsm: str


Event = Union[PeerState, RoutesAnnounced, RoutesWithdrawn, EndOfRib, RefreshMarker, NotificationReceived]

# -- effects --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Announce:
    """Announce prefixes (one family) with one attribute set and path id to core routers."""

    afi: int
    path_id: int
    attrs: Attrs
    prefixes: list[str]
    scope: Scope | None = None  # None: every core session; else the sessions of that scope (default, or one class)
    peer: str | None = None  # a cloud session's address: the return path (core/returnpath.py), not to the core


@dataclass(frozen=True, slots=True)
class Withdraw:
    afi: int
    path_id: int
    prefixes: list[str]
    scope: Scope | None = None
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class Teardown:
    peer: str
    reason: str


@dataclass(frozen=True, slots=True)
class Log:
    level: str  # debug | info | warning | error
    message: str
    fields: dict[str, object] = field(default_factory=dict)


Change = tuple[str, int, "Attrs | None", "Attrs | None"]  # prefix, path id, old, new (None: not announced)


@dataclass(frozen=True, slots=True)
class Changed:
    """What one decision pass changed, for the journal: every announcement's old -> new."""

    decision: int  # decision id, increasing
    time: float
    reason: str  # what triggered the pass (the events since the previous one)
    changes: list[Change]
    kind: str = "other"  # the first trigger's kind (core/codes.py Trigger)


@dataclass(frozen=True, slots=True)
class EgressChanged:
    """An egress changed health or service state (its paths all follow, in O(1))."""

    decision: int
    time: float
    egress: str
    old: str
    new: str
    in_service: bool
    reason: str
    app_class: str | None = None  # None: the egress's health; else its SLA fit for that application class

    @property
    def subject(self) -> str:
        """The egress, or the egress for one class, in words."""
        return self.egress if self.app_class is None else f"{self.egress} for class {self.app_class}"


Effect = Union[Announce, Withdraw, Teardown, Log, Changed, EgressChanged]
