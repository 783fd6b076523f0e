"""Drift: where what a core router holds and uses for a prefix differs from what bgpsteer intends it to.

Intent is the read API's decision for the prefix (core/view.py ``decision``: the paths announced, each with the
LOCAL_PREF sent, in the order the core should rank them, and the egress it should use).  What the core holds comes
from reading it (bgpsteer/monitor/): per prefix, its paths with their next-hop, LOCAL_PREF, validity and whether
it is the best.  A path is bgpsteer's when its next-hop is an egress's NH_E (a redundant pair's partner sends the
same paths, so they count as intended too).  The kinds, each with words for the NOC:

- ``missing``: bgpsteer announces usable paths for the prefix; the core holds none of them (an UPDATE it never
  received, or filtered);
- ``local-pref``: the core holds a path via egress E with another LOCAL_PREF than was sent (a policy on the core);
- ``unresolved``: a path via an egress in service is not valid on the core (its NH_E does not resolve there);
- ``stale``: the core holds a path via an egress bgpsteer does not announce for the prefix, or a path the core
  itself marks stale (kept by graceful restart after its session went down: a dead route server's in a pair),
  for a prefix or for an egress's next-hop route NH_E/32;
- ``other-egress``: the core's best path leaves through another egress (or is not bgpsteer's) than intended.

A difference is drift only once it has lasted a convergence window (``Tracker``): a failover, a drain or a
reload changes intent before the core has caught up, and that is not drift.  Pure: readings and the time come in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from bgpsteer.core.viewtypes import PrefixDecision

KINDS = ("missing", "local-pref", "unresolved", "stale", "other-egress")


@dataclass(frozen=True, slots=True)
class CorePath:
    """One path a core router holds for a prefix, as read from it."""

    next_hop: str
    local_pref: int | None
    best: bool
    valid: bool
    stale: bool = False  # kept by graceful restart after its session went down (FRR's "stale")


@dataclass(frozen=True, slots=True)
class Drift:
    prefix: str
    kind: str
    detail: str


def compare(
    prefix: str,
    intent: PrefixDecision | None,
    held: Iterable[CorePath],
    egress_by_next_hop: Mapping[str, str],
    knows_use: bool = True,
) -> list[Drift]:
    """The differences for one prefix between intent (None: bgpsteer announces nothing for it) and the core.
    ``knows_use``: the reading tells validity and the best path (a CLI's does; BMP's post-policy paths do not)."""
    held = list(held)
    nh_route = _next_hop_route(prefix, egress_by_next_hop)
    if nh_route is not None:  # an egress's NH_E/32 (a route server's, next-hop itself): only staleness is ours
        return [
            Drift(
                prefix,
                "stale",
                f"the core keeps a stale path for {nh_route}'s next-hop via {p.next_hop} (graceful restart: "
                "its session is down)" + (", and uses it" if p.best else ""),
            )
            for p in held
            if p.stale
        ][:1]
    ours = [(egress_by_next_hop[p.next_hop], p) for p in held if p.next_hop in egress_by_next_hop]
    ranked = {r.egress: r for r in intent.ranking} if intent is not None else {}
    out: list[Drift] = []
    if intent is not None and any(r.in_service for r in intent.ranking) and not ours:
        sent = ", ".join(r.egress for r in intent.ranking)
        out.append(Drift(prefix, "missing", f"the core holds none of the paths sent for it (via {sent})"))
    for egress, p in ours:
        r = ranked.get(egress)
        if p.stale:
            out.append(
                Drift(
                    prefix,
                    "stale",
                    f"the core keeps a stale path via {egress} (graceful restart: the session it came from is down)",
                )
            )
            continue
        if r is None:
            out.append(
                Drift(prefix, "stale", f"the core holds a path via {egress} that bgpsteer does not announce (stale)")
            )
            continue
        sent_lp = r.attrs.local_pref
        if p.local_pref is not None and sent_lp is not None and p.local_pref != sent_lp:
            out.append(
                Drift(
                    prefix,
                    "local-pref",
                    f"the core holds the path via {egress} with LOCAL_PREF {p.local_pref}, not {sent_lp} "
                    "(a policy on the core)",
                )
            )
        if knows_use and r.in_service and not p.valid:
            out.append(
                Drift(
                    prefix,
                    "unresolved",
                    f"the path via {egress} is not valid on the core: its next-hop {p.next_hop} does not resolve there",
                )
            )
    best = next((p for p in held if p.best and p.valid), None)
    if knows_use and intent is not None and intent.primary is not None and not intent.tie:
        used = egress_by_next_hop.get(best.next_hop) if best is not None else None
        if used != intent.primary:
            what = used or ("a path not from bgpsteer" if best is not None else "no path")
            out.append(Drift(prefix, "other-egress", f"the core uses {what}, not {intent.primary} as intended"))
    return out


def _next_hop_route(prefix: str, egress_by_next_hop: Mapping[str, str]) -> str | None:
    """The egress whose next-hop route this prefix is (NH_E/32 or /128), or None."""
    address, _, length = prefix.partition("/")
    return egress_by_next_hop.get(address) if length in ("32", "128") else None


def each_prefix(
    intent: Callable[[str], PrefixDecision | None],
    prefixes: Iterable[str],
    table: Mapping[str, list[CorePath]],
    egress_by_next_hop: Mapping[str, str],
    knows_use: bool = True,
) -> Iterator[list[Drift]]:
    """Every prefix bgpsteer announces or the core holds (``prefixes``, duplicates allowed), compared, one prefix
    at a time (a caller may pause between them)."""
    for prefix in dict.fromkeys(prefixes):
        yield compare(prefix, intent(prefix), table.get(prefix, ()), egress_by_next_hop, knows_use)


def compare_table(
    intent: Callable[[str], PrefixDecision | None],
    prefixes: Iterable[str],
    table: Mapping[str, list[CorePath]],
    egress_by_next_hop: Mapping[str, str],
    knows_use: bool = True,
) -> list[Drift]:
    """``each_prefix``'s differences, all at once."""
    return [d for found in each_prefix(intent, prefixes, table, egress_by_next_hop, knows_use) for d in found]


@dataclass
class Tracker:
    """Differences seen at each reading, drift once one has lasted ``window`` seconds."""

    window: float
    first_seen: dict[tuple[str, str], float]

    def __init__(self, window: float) -> None:
        self.window = window
        self.first_seen = {}

    def update(self, found: Iterable[Drift], now: float) -> list[Drift]:
        """A reading's differences: those that lasted the window (a difference gone is forgotten)."""
        found = list(found)
        keys = {(d.prefix, d.kind) for d in found}
        self.first_seen = {k: t for k, t in self.first_seen.items() if k in keys}
        for k in keys:
            self.first_seen.setdefault(k, now)
        return [d for d in found if now - self.first_seen[(d.prefix, d.kind)] >= self.window]
