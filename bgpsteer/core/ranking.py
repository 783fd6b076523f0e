"""BGP path ranking, once: how the core routers rank the paths bgpsteer announces (RFC 4271 9.1.2.2, as FRR does),
and how bgpsteer picks the best candidate per egress.

Every view that says which path wins (the decision, explain's "ranking at the core", simulate's prediction,
the NOC's primary egress) uses these functions; none has its own copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bgpsteer.core.attrs import ORIGIN_RANK, Attrs

DEFAULT_LOCAL_PREF = 100  # a path without LOCAL_PREF counts as 100 (FRR's and most routers' default)


def local_pref(a: Attrs) -> int:
    return a.local_pref if a.local_pref is not None else DEFAULT_LOCAL_PREF


def rank_key(a: Attrs) -> tuple[int, int, int]:
    """Compared between any two paths, lower first: highest LOCAL_PREF, shortest AS path, lowest origin."""
    return (-local_pref(a), len(a.as_path), ORIGIN_RANK.get(a.origin, 3))


def neighbor_as(a: Attrs) -> int:
    """The AS a path was learned from as the core sees it (the first of its AS path; 0 for an empty one)."""
    return a.as_path[0] if a.as_path else 0


def core_order(out: Iterable[tuple[int, Attrs]], usable: set[int]) -> list[tuple[int, Attrs, bool]]:
    """The announced paths of a prefix in the order the core ranks them: (path id, attributes, tied with the one
    before).

    Paths the core cannot use (their egress's next-hop route withdrawn) come last.  Among paths equal in
    ``rank_key``, MED decides only between paths from the same neighbouring AS (RFC 4271, no always-compare-med):
    a path with a higher MED than one from its own AS ranks below it; paths from different ASes are left for
    the core to break by itself (IGP cost to the next-hop, router id): marked as ties.
    """
    groups: dict[tuple[bool, tuple[int, int, int]], list[tuple[int, Attrs]]] = {}
    for pid, a in out:
        groups.setdefault((pid not in usable, rank_key(a)), []).append((pid, a))
    ranked: list[tuple[int, Attrs, bool]] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda pa: (pa[1].med or 0, pa[0]))  # within one AS this is MED order
        for i, (pid, a) in enumerate(group):
            prev = group[i - 1][1] if i else None
            beaten = prev is not None and neighbor_as(prev) == neighbor_as(a) and (prev.med or 0) < (a.med or 0)
            ranked.append((pid, a, prev is not None and not beaten))
    return ranked


def core_choice(out: Sequence[tuple[int, Attrs]], usable: set[int]) -> tuple[int | None, bool]:
    """(path id the core uses, whether it is a tie the core breaks by itself); None when no path is usable.

    A tie: another usable path equal in ``rank_key`` that MED does not rule out (same MED in the same AS, or
    another AS: the core compares the best of each AS by its own tie-breaks)."""
    ranked = [r for r in core_order(out, usable) if r[0] in usable]
    if not ranked:
        return None, False
    first = ranked[0][1]
    top = [a for _, a, _ in ranked if rank_key(a) == rank_key(first)]
    rivals = [a for a in top[1:] if neighbor_as(a) != neighbor_as(first) or (a.med or 0) == (first.med or 0)]
    return ranked[0][0], bool(rivals)


def multipath_shares(out: Sequence[tuple[int, Attrs]], usable: set[int]) -> dict[int, float]:
    """How a core with multipath (ECMP/UCMP: the settings in policies/README.md) splits a spread prefix's traffic: the
    usable paths of the best rank share it, by their link bandwidths when every one carries one, else equally."""
    ranked = [(pid, a) for pid, a in out if pid in usable]
    if not ranked:
        return {}
    best = min(rank_key(a) for _, a in ranked)
    top = [(pid, a) for pid, a in ranked if rank_key(a) == best]
    if all(a.link_bandwidth for _, a in top):
        total = sum(a.link_bandwidth[1] for _, a in top if a.link_bandwidth)
        return {pid: a.link_bandwidth[1] / total for pid, a in top if a.link_bandwidth}
    return {pid: 1 / len(top) for pid, _ in top}


def candidate_key(a: Attrs, peer_name: str) -> tuple[int, int, int, int, str]:
    """bgpsteer's own choice of the best candidate per egress (lower first): ``rank_key``, then MED whatever the AS
    (the candidates of one egress are compared as one set), then the peer's name, so the choice is stable."""
    return (*rank_key(a), a.med or 0, peer_name)
