"""Prefix classes: everything about a prefix that import and export need, computed once.

A route's verdict depends on the peer, the attribute set, and a few facts about
its prefix: the family, the import safety outcome, and the outcomes of the
policies' prefix-dependent conditions.  Those facts are computed once per
prefix (not once per path) and interned to a small integer, so the per-route
cost of import is one dictionary lookup on (peer, attribute set, class).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from bgpsteer.core.policy import Policy
from bgpsteer.core.prefix import ParsedPrefix


class PrefixClass(NamedTuple):
    afi: int  # 0 for an unparseable prefix
    safety: str | None  # rejection reason, or None when the prefix passes import safety
    import_sig: tuple[bool, ...]
    export_sig: tuple[bool, ...]


class Classifier:
    def __init__(self, safety_check: Callable[[ParsedPrefix], str | None], import_policy: Policy, export_policy: Policy) -> None:
        self._safety = safety_check
        self._import = import_policy
        self._export = export_policy
        self._ids: dict[PrefixClass, int] = {}
        self.classes: list[PrefixClass] = []

    def classify(self, parsed: ParsedPrefix | str) -> int:
        if isinstance(parsed, str):
            pc = PrefixClass(0, f"invalid prefix: {parsed}", (), ())
        else:
            pc = PrefixClass(parsed[0], self._safety(parsed), self._import.signature(parsed), self._export.signature(parsed))
        k = self._ids.get(pc)
        if k is None:
            k = self._ids[pc] = len(self.classes)
            self.classes.append(pc)
        return k
