"""The prefixes waiting for a decision, first in first out.

A ``set`` would do, but its order follows the process's string hash seed: the prefixes in each decision slice
would differ from one process to the next, and replay (replay/) must cut a recorded run into the same passes.
A dict in insertion order is deterministic too, but taking slices off its front re-scans the deleted slots
(about 0.5 s more per 1M-prefix pass in 1,000-prefix slices); a set for membership and a deque for the order
keep both adding and taking O(1).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator


class Dirty:
    __slots__ = ("_members", "_queue")

    def __init__(self) -> None:
        self._members: set[str] = set()
        self._queue: deque[str] = deque()

    def add(self, prefix: str) -> None:
        if prefix not in self._members:
            self._members.add(prefix)
            self._queue.append(prefix)

    def update(self, prefixes: Iterable[str]) -> None:
        members, append = self._members, self._queue.append
        for p in prefixes:
            if p not in members:
                members.add(p)
                append(p)

    def take(self, limit: int | None = None) -> list[str]:
        """The oldest ``limit`` (all when None), removed."""
        if limit is None or limit >= len(self._queue):
            out = list(self._queue)
            self._queue.clear()
            self._members.clear()
            return out
        pop, members = self._queue.popleft, self._members
        out = [pop() for _ in range(limit)]
        members.difference_update(out)
        return out

    def __len__(self) -> int:
        return len(self._queue)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._members

    def __iter__(self) -> Iterator[str]:
        return iter(self._queue)
