"""The diff of a decision pass: from what was announced to what is wanted, batched by (family, path id,
attributes) as ExaBGP takes it, with every change for the journal."""

from __future__ import annotations

from collections import defaultdict

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.decision import OutSet
from bgpsteer.core.events import Change
from bgpsteer.core.family import afi_of


class Diff:
    """What a decision pass changed, batched by (family, path id, attributes) as ExaBGP takes it."""

    __slots__ = ("added", "announce", "changes", "withdraw")

    def __init__(self) -> None:
        self.announce: dict[tuple[int, int, Attrs], list[str]] = defaultdict(list)
        self.withdraw: dict[tuple[int, int], list[str]] = defaultdict(list)
        self.changes: list[Change] = []
        self.added: dict[int, int] = defaultdict(int)  # path id -> paths that are new (not replacing one)

    def add(self, prefix: str, old: OutSet, new: OutSet) -> None:
        afi = afi_of(prefix)
        announce, changes = self.announce, self.changes
        if not old:  # a new prefix: the common case of a table load
            for pid, attrs in new:
                announce[(afi, pid, attrs)].append(prefix)
                changes.append((prefix, pid, None, attrs))
                self.added[pid] += 1
            return
        old_ids = dict(old)
        for pid, attrs in new:
            before = old_ids.pop(pid, None)
            if before is None or (before is not attrs and before != attrs):
                announce[(afi, pid, attrs)].append(prefix)
                changes.append((prefix, pid, before, attrs))
                if before is None:
                    self.added[pid] += 1
        for pid, before in old_ids.items():
            self.withdraw[(afi, pid)].append(prefix)
            changes.append((prefix, pid, before, None))
