"""Prefix classes: everything about a prefix that import and export need, computed once.

A route's verdict depends on the peer, the attribute set, and a few facts about
its prefix: the family, the import safety outcome, and the outcomes of the
policies' prefix-dependent conditions.  Those facts are computed once per
prefix (not once per path) and interned to a small integer, so the per-route
cost of import is one dictionary lookup on (peer, attribute set, class).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from bgpsteer.core.model import Compliance, Multipath
from bgpsteer.core.policy import Policy
from bgpsteer.core.prefix import BITS, ParsedPrefix


class PrefixClass(NamedTuple):
    afi: int
    safety: str | None  # rejection reason, or None when the prefix passes import safety
    import_sig: tuple[bool, ...]
    export_sig: tuple[bool, ...]
    allowed: frozenset[str] | None = None  # jurisdictions it may leave through (compliance), None: any
    bound_by: tuple[str, ...] = ()  # the compliance rules that bind it
    multipath: bool = False  # spread over every eligible egress (steering.multipath)


class Classifier:
    def __init__(
        self,
        safety_check: Callable[[ParsedPrefix], str | None],
        import_policy: Policy,
        export_policy: Policy,
        compliance: Sequence[Compliance] = (),
        next_hops: Sequence[tuple[str, ParsedPrefix]] = (),
        multipath: Multipath | None = None,
    ) -> None:
        self._multipath = multipath
        self._safety = safety_check
        self._import = import_policy
        self._export = export_policy
        self._compliance = tuple(compliance)
        # (afi, length, network >> (bits - length)) of every prefix that covers an egress next-hop: one set lookup per
        # prefix
        self._covering: dict[tuple[int, int, int], str] = {}
        for egress_id, (afi, nh, bits) in next_hops:
            for length in range(1, bits + 1):
                self._covering.setdefault((afi, length, nh >> (bits - length)), egress_id)
        self._ids: dict[PrefixClass, int] = {}
        self.prefix_classes: list[PrefixClass] = []

    def classify(self, parsed: ParsedPrefix) -> int:
        allowed: frozenset[str] | None = None
        bound: list[str] = []
        for rule in self._compliance:
            if parsed in rule.prefixes:
                bound.append(rule.name)
                allowed = rule.jurisdictions if allowed is None else allowed & rule.jurisdictions
        pc = PrefixClass(
            parsed[0],
            self._safety(parsed) or self._covers_next_hop(parsed),
            self._import.signature(parsed),
            self._export.signature(parsed),
            allowed,
            tuple(bound),
            self._multipath is not None and (self._multipath.prefixes is None or parsed in self._multipath.prefixes),
        )
        k = self._ids.get(pc)
        if k is None:
            k = self._ids[pc] = len(self.prefix_classes)
            self.prefix_classes.append(pc)
        return k

    def _covers_next_hop(self, p: ParsedPrefix) -> str | None:
        """A cloud route covering an egress next-hop would keep it resolvable after its withdrawal."""
        afi, net, length = p
        if length == 0:
            return None  # the default route: import safety decides; FRR does not resolve next-hops via it
        egress_id = self._covering.get((afi, length, net >> (BITS[afi] - length)))
        if egress_id is None:
            return None
        return (
            f"import safety: covers next-hop of egress {egress_id}, which must resolve only via bgpsteer's "
            "next-hop route"
        )
