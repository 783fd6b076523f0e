"""Policy evaluation: ordered statements of conditions and actions.

Semantics (documented for users in policies/README.md):
- statements are evaluated in order; a statement matches when all of its
  conditions match (an empty condition list matches everything);
- a matching statement applies its actions in the order written, then its
  ``then``: ``accept`` or ``reject`` ends evaluation, ``next`` goes on;
- when no statement ends evaluation, the policy's ``default`` decides;
- an exception while evaluating rejects the route (fail closed).

Every evaluation returns a Verdict carrying its trace: the statements that
matched and what they did.  Conditions that depend on the prefix are marked,
so results can be cached per (peer, attribute set, prefix signature).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from bgpsteer.core.attrs import Attrs, Community, LargeCommunity
from bgpsteer.core.model import AFI_FAMILY, CloudPeer, Egress
from bgpsteer.core.prefix import ParsedPrefix, PrefixSet

Then = Literal["accept", "reject", "next"]
SetMode = Literal["any", "all", "invert"]


class RouteView(NamedTuple):
    """What a policy sees of one route (a NamedTuple: cheap to build per route)."""

    prefix: ParsedPrefix
    prefix_text: str
    peer: CloudPeer
    egress: Egress
    attrs: Attrs


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    attrs: Attrs | None
    trace: tuple[str, ...]
    error: bool = False

    @property
    def reason(self) -> str:
        return self.trace[-1] if self.trace else ""


class Condition(Protocol):
    def __call__(self, r: RouteView) -> bool: ...

    def describe(self) -> str: ...


class Action(Protocol):
    def apply(self, attrs: Attrs, r: RouteView) -> Attrs: ...

    def describe(self) -> str: ...


# -- conditions -----------------------------------------------------------------


@dataclass(frozen=True)
class PrefixIn:
    prefix_set: PrefixSet
    invert: bool = False

    def __call__(self, r: RouteView) -> bool:
        return (r.prefix in self.prefix_set) != self.invert

    def on_prefix(self, p: ParsedPrefix) -> bool:
        return (p in self.prefix_set) != self.invert

    def describe(self) -> str:
        return f"prefix {'not ' if self.invert else ''}in {self.prefix_set.name}"


@dataclass(frozen=True)
class PrefixLength:
    minimum: int
    maximum: int

    def __call__(self, r: RouteView) -> bool:
        return self.minimum <= r.prefix[2] <= self.maximum

    def on_prefix(self, p: ParsedPrefix) -> bool:
        return self.minimum <= p[2] <= self.maximum

    def describe(self) -> str:
        return f"prefix length {self.minimum}..{self.maximum}"


@dataclass(frozen=True)
class FamilyIs:
    afi: int

    def __call__(self, r: RouteView) -> bool:
        return r.prefix[0] == self.afi

    def on_prefix(self, p: ParsedPrefix) -> bool:
        return p[0] == self.afi

    def describe(self) -> str:
        return f"family {AFI_FAMILY[self.afi]}"


# Conditions that look only at the prefix (``on_prefix``): the per-prefix part of a cache key.
PREFIX_CONDITIONS = (PrefixIn, PrefixLength, FamilyIs)


@dataclass(frozen=True)
class FieldIn:
    """peer / egress / provider / region / jurisdiction is one of the values."""

    field: Literal["peer", "egress", "provider", "region", "jurisdiction", "egress_region"]
    values: frozenset[str]

    def __call__(self, r: RouteView) -> bool:
        f = self.field
        if f == "peer":
            value = r.peer.name
        elif f == "egress":
            value = r.egress.id
        elif f == "provider":
            value = r.peer.provider
        elif f == "region":
            value = r.peer.region
        elif f == "egress_region":
            value = r.egress.region
        else:
            value = r.egress.jurisdiction
        return value in self.values

    def describe(self) -> str:
        return f"{self.field} in [{', '.join(sorted(self.values))}]"


def _set_match(have: Sequence[object], want: frozenset[object], mode: SetMode) -> bool:
    if mode == "all":
        return want.issubset(have)
    hit = not want.isdisjoint(have)
    return hit if mode == "any" else not hit


@dataclass(frozen=True)
class CommunityMatch:
    name: str
    values: frozenset[Community]
    mode: SetMode = "any"

    def __call__(self, r: RouteView) -> bool:
        return _set_match(r.attrs.communities, self.values, self.mode)

    def describe(self) -> str:
        return f"community {self.mode} of {self.name}"


@dataclass(frozen=True)
class LargeCommunityMatch:
    name: str
    values: frozenset[LargeCommunity]
    mode: SetMode = "any"

    def __call__(self, r: RouteView) -> bool:
        return _set_match(r.attrs.large_communities, self.values, self.mode)

    def describe(self) -> str:
        return f"large-community {self.mode} of {self.name}"


def compile_as_path_regex(pattern: str) -> re.Pattern[str]:
    """Cisco/FRR-style: '_' matches a boundary (start, end or space)."""
    return re.compile(pattern.replace("_", "(?:^|$| )"))


@dataclass(frozen=True)
class AsPathRegex:
    pattern: str
    regex: re.Pattern[str]

    def __call__(self, r: RouteView) -> bool:
        return self.regex.search(" ".join(map(str, r.attrs.as_path))) is not None

    def describe(self) -> str:
        return f"as-path matches /{self.pattern}/"


@dataclass(frozen=True)
class AsPathContains:
    asns: frozenset[int]

    def __call__(self, r: RouteView) -> bool:
        return not self.asns.isdisjoint(r.attrs.as_path)

    def describe(self) -> str:
        return f"as-path contains any of [{', '.join(map(str, sorted(self.asns)))}]"


@dataclass(frozen=True)
class AsPathLength:
    minimum: int
    maximum: int

    def __call__(self, r: RouteView) -> bool:
        return self.minimum <= len(r.attrs.as_path) <= self.maximum

    def describe(self) -> str:
        return f"as-path length {self.minimum}..{self.maximum}"


@dataclass(frozen=True)
class OriginIs:
    origins: frozenset[str]

    def __call__(self, r: RouteView) -> bool:
        return r.attrs.origin in self.origins

    def describe(self) -> str:
        return f"origin in [{', '.join(sorted(self.origins))}]"


# -- actions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SetLocalPref:
    value: int

    def apply(self, attrs: Attrs, r: RouteView) -> Attrs:
        return attrs.evolve(local_pref=self.value)

    def describe(self) -> str:
        return f"local-pref {self.value}"


@dataclass(frozen=True)
class SetMed:
    value: int
    relative: bool = False

    def apply(self, attrs: Attrs, r: RouteView) -> Attrs:
        if not self.relative:
            return attrs.evolve(med=self.value)
        # MED is 32-bit unsigned: clamp instead of wrapping
        return attrs.evolve(med=min(max((attrs.med or 0) + self.value, 0), 0xFFFFFFFF))

    def describe(self) -> str:
        return f"med {self.value:+d}" if self.relative else f"med {self.value}"


@dataclass(frozen=True)
class EditCommunities:
    """add / remove / replace on standard (large=False) or large (large=True) communities."""

    add: tuple[tuple[int, ...], ...] = ()
    remove: frozenset[tuple[int, ...]] = frozenset()
    replace: tuple[tuple[int, ...], ...] | None = None
    large: bool = False

    def apply(self, attrs: Attrs, r: RouteView) -> Attrs:
        field = "large_communities" if self.large else "communities"
        current = self.replace if self.replace is not None else getattr(attrs, field)
        kept = [c for c in current if c not in self.remove]
        kept.extend(c for c in self.add if c not in kept)
        return attrs.evolve(**{field: tuple(sorted(kept))})

    def describe(self) -> str:
        def fmt(c: tuple[int, ...]) -> str:
            return ":".join(map(str, c))  # A:B or A:B:C alike

        parts = []
        if self.replace is not None:
            parts.append("replace " + " ".join(map(fmt, self.replace)))
        if self.remove:
            parts.append("remove " + " ".join(map(fmt, sorted(self.remove))))
        if self.add:
            parts.append("add " + " ".join(map(fmt, self.add)))
        return ("large-community " if self.large else "community ") + ", ".join(parts)


@dataclass(frozen=True)
class Prepend:
    asn: int
    count: int

    def apply(self, attrs: Attrs, r: RouteView) -> Attrs:
        return attrs.evolve(as_path=(self.asn,) * self.count + attrs.as_path)

    def describe(self) -> str:
        return f"as-path prepend {self.asn} x{self.count}"


@dataclass(frozen=True)
class SetNextHop:
    address: str  # an address, or "egress" for the egress's next-hop

    def apply(self, attrs: Attrs, r: RouteView) -> Attrs:
        if self.address == "egress":
            return attrs.evolve(next_hop=r.egress.next_hop_for(r.prefix[0]) or attrs.next_hop)
        return attrs.evolve(next_hop=self.address)

    def describe(self) -> str:
        return f"next-hop {self.address}"


# -- statements and policies ---------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    name: str
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    then: Then = "next"


class Policy:
    """An ordered list of statements with an explicit default."""

    def __init__(self, name: str, statements: Sequence[Statement], default: Literal["accept", "reject"]) -> None:
        self.name = name
        self.statements = tuple(statements)
        self.default = default
        seen: dict[int, PrefixIn | PrefixLength | FamilyIs] = {}
        for st in self.statements:
            for c in st.conditions:
                if isinstance(c, PREFIX_CONDITIONS):
                    seen.setdefault(id(c), c)
        # The only inputs of a verdict that vary per prefix: used as a cache key.
        self.prefix_conditions = tuple(seen.values())
        self._prefix_tests = tuple(c.on_prefix for c in self.prefix_conditions)

    def evaluate(self, r: RouteView) -> Verdict:
        try:
            return self._evaluate(r)
        except Exception as exc:
            return Verdict(
                False, None, (f"{self.name}: evaluation error ({type(exc).__name__}: {exc}), rejected",), error=True
            )

    def _evaluate(self, r: RouteView) -> Verdict:
        attrs = r.attrs
        trace: list[str] = []
        for st in self.statements:
            if not all(c(r) for c in st.conditions):
                continue
            for a in st.actions:
                attrs = a.apply(attrs, r)
            did = ", ".join(a.describe() for a in st.actions)
            step = f"{self.name} statement {st.name!r} matched" + (f": {did}" if did else "")
            if st.then == "accept":
                trace.append(step + "; accept")
                return Verdict(True, attrs, tuple(trace))
            if st.then == "reject":
                trace.append(step + "; reject")
                return Verdict(False, None, tuple(trace))
            trace.append(step)
        trace.append(f"{self.name} default {self.default}")
        return Verdict(self.default == "accept", attrs if self.default == "accept" else None, tuple(trace))

    def signature(self, p: ParsedPrefix) -> tuple[bool, ...]:
        """The outcomes of the prefix-dependent conditions: with peer and attributes, a cache key."""
        tests = self._prefix_tests
        if not tests:
            return ()
        if len(tests) == 1:
            return (tests[0](p),)
        return tuple([t(p) for t in tests])
