"""A bounded cache for a process that runs for months.

Every cache and interning table in the agent is one of these, so memory is a
function of the RIB's size and the configuration, never of the history of
updates (a gateway whose MED changes on every UPDATE makes a new attribute set
each time, forever).

Two generations of at most ``size`` entries each: lookups look in the young
generation, then in the old one (a hit there is promoted); when the young one
is full it becomes the old one and the previous old one is dropped.  That is
an approximate LRU whose hot path is one dict lookup and whose bound is
``2 * size`` entries, with no per-hit bookkeeping.  An evicted entry is only
recomputed (or, for interning, no longer shared) the next time it is needed:
correctness never depends on a hit.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    __slots__ = ("old", "rotations", "size", "young")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a bounded cache needs size >= 1")
        self.size = size
        self.young: dict[K, V] = {}
        self.old: dict[K, V] = {}
        self.rotations = 0  # how often a generation was dropped (exported to tell a too-small bound)

    @property
    def bound(self) -> int:
        return 2 * self.size

    def get(self, key: K) -> V | None:
        value = self.young.get(key)
        if value is None:
            value = self.old.get(key)
            if value is not None:
                self.put(key, value)
        return value

    def put(self, key: K, value: V) -> None:
        young = self.young
        if len(young) >= self.size and key not in young:
            self.old = young
            self.young = young = {}
            self.rotations += 1
        young[key] = value

    def clear(self) -> None:
        self.young = {}
        self.old = {}

    def __len__(self) -> int:
        return len(self.young) + len(self.old)
