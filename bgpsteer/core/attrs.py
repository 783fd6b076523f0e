"""BGP path attributes as immutable, interned values.

Routes that arrive in one UPDATE share one Attrs object; interning keeps
memory per route to a pointer and makes policy results cacheable per
attribute set.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bgpsteer.core.bounded import BoundedCache

Community = tuple[int, int]
LargeCommunity = tuple[int, int, int]

U32_MAX = 0xFFFFFFFF  # LOCAL_PREF, MED, 4-byte ASNs and large-community parts
U16_MAX = 0xFFFF  # each half of a standard community

COMMUNITY_PARTS, LARGE_PARTS = 2, 3  # a:b, a:b:c
ORIGIN_RANK = {"igp": 0, "egp": 1, "incomplete": 2}

WELL_KNOWN_COMMUNITIES: dict[str, Community] = {
    "graceful-shutdown": (65535, 0),
    "accept-own": (65535, 1),
    "blackhole": (65535, 666),
    "no-export": (65535, 65281),
    "no-advertise": (65535, 65282),
    "no-export-subconfed": (65535, 65283),
    "no-peer": (65535, 65284),
}


@dataclass(frozen=True, slots=True)
class Attrs:
    next_hop: str = ""
    origin: str = "igp"
    as_path: tuple[int, ...] = ()
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[Community, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    # BGP link bandwidth (extended community, non-transitive): (AS, bytes per second); set on export for multipath
    link_bandwidth: tuple[int, int] | None = None

    def evolve(self, **changes: Any) -> Attrs:
        return replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        return {
            "next_hop": self.next_hop,
            "origin": self.origin,
            "as_path": list(self.as_path),
            "med": self.med,
            "local_pref": self.local_pref,
            "communities": [format_community(c) for c in self.communities],
            "large_communities": [format_large(c) for c in self.large_communities],
            **({"link_bandwidth": f"{self.link_bandwidth[0]}:{self.link_bandwidth[1]}"} if self.link_bandwidth else {}),
        }


INTERN_SIZE = 2048  # per generation (bounded.py): sharing matters within a table load, not across months


class Interner:
    """Returns one shared instance per distinct value, for the attribute sets seen recently.

    Bounded (2 * INTERN_SIZE entries): a gateway whose MED changes on every UPDATE
    must not grow it forever.  An attribute set that was evicted while routes
    still use it is simply not shared with the next equal one."""

    __slots__ = ("table",)

    def __init__(self, size: int = INTERN_SIZE) -> None:
        self.table: BoundedCache[Attrs, Attrs] = BoundedCache(size)

    def __call__(self, attrs: Attrs) -> Attrs:
        hit = self.table.get(attrs)
        if hit is None:
            self.table.put(attrs, attrs)
            return attrs
        return hit

    def __len__(self) -> int:
        return len(self.table)


def parse_community(text: str) -> Community:
    if text in WELL_KNOWN_COMMUNITIES:
        return WELL_KNOWN_COMMUNITIES[text]
    a, sep, b = text.partition(":")
    if not sep or not a.isdigit() or not b.isdigit() or int(a) > U16_MAX or int(b) > U16_MAX:
        raise ValueError(f"invalid community {text!r}: expected A:B with 0-65535 each, or a well-known name")
    return int(a), int(b)


def parse_large_community(text: str) -> LargeCommunity:
    parts = text.split(":")
    if len(parts) != LARGE_PARTS or not all(p.isdigit() and int(p) <= U32_MAX for p in parts):
        raise ValueError(f"invalid large community {text!r}: expected A:B:C with 0-4294967295 each")
    return int(parts[0]), int(parts[1]), int(parts[2])


def format_community(c: Community) -> str:
    return f"{c[0]}:{c[1]}"


def format_large(c: LargeCommunity) -> str:
    return f"{c[0]}:{c[1]}:{c[2]}"
