"""Decision: from the candidate paths of one prefix to what core routers get.

Each egress contributes at most one path (its best candidate); every egress
whose path passes the export policy is announced, with its own ADD-PATH id,
so core routers hold the backups before they need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bgpsteer.core.attrs import ORIGIN_RANK, Attrs
from bgpsteer.core.model import CloudPeer, Egress
from bgpsteer.core.policy import Policy, RouteView, Verdict
from bgpsteer.core.prefix import ParsedPrefix

DEFAULT_LOCAL_PREF = 100
MEMO_LIMIT = 1 << 18

OutSet = tuple[tuple[int, Attrs], ...]  # (path id, attributes), sorted by path id
EMPTY: OutSet = ()


class Path:
    """One candidate: a prefix as learned from one cloud peer."""

    __slots__ = ("peer", "attrs", "verdict")

    def __init__(self, peer: CloudPeer, attrs: Attrs, verdict: Verdict) -> None:
        self.peer = peer
        self.attrs = attrs
        self.verdict = verdict


def preference_key(path: Path) -> tuple[int, int, int, int, str]:
    """Lower is better: local-pref, as-path length, origin, MED, peer name (stable)."""
    a = path.verdict.attrs
    assert a is not None
    lp = a.local_pref if a.local_pref is not None else DEFAULT_LOCAL_PREF
    return (-lp, len(a.as_path), ORIGIN_RANK.get(a.origin, 3), a.med or 0, path.peer.name)


def best_per_egress(paths: list[Path]) -> dict[str, tuple[Path, int]]:
    """egress id -> (best accepted path, number of accepted candidates via that egress)."""
    best: dict[str, tuple[Path, int]] = {}
    for p in paths:
        if not p.verdict.accepted:
            continue
        cur = best.get(p.peer.egress)
        if cur is None:
            best[p.peer.egress] = (p, 1)
        elif preference_key(p) < preference_key(cur[0]):
            best[p.peer.egress] = (p, cur[1] + 1)
        else:
            best[p.peer.egress] = (cur[0], cur[1] + 1)
    return best


def finalize(attrs: Attrs, egress: Egress) -> Attrs:
    return attrs.evolve(
        local_pref=attrs.local_pref if attrs.local_pref is not None else DEFAULT_LOCAL_PREF,
        next_hop=attrs.next_hop,
    )


class ExportStage:
    """Export policy applied to each egress's best path, cached like import."""

    def __init__(self, policy: Policy, egresses: dict[str, Egress]) -> None:
        self.policy = policy
        self.egresses = egresses
        self._cache: dict[tuple[object, ...], tuple[Attrs, Verdict]] = {}  # by id(attrs), as in ImportStage
        self._outs: dict[OutSet, OutSet] = {}
        # decide() memo: paths with the same peers, the same accepted attributes and the same
        # export signature decide alike.  Keyed by ids; the value keeps those objects alive.
        self._memo: dict[tuple[object, ...], tuple[list[object], OutSet]] = {}
        self.errors = 0

    def evaluate(self, path: Path, prefix: ParsedPrefix, prefix_text: str, sig: tuple[bool, ...] | None = None) -> Verdict:
        egress = self.egresses[path.peer.egress]
        attrs = path.verdict.attrs
        assert attrs is not None
        key = (path.peer.name, id(attrs), self.policy.signature(prefix) if sig is None else sig)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is attrs:
            return hit[1]
        v = self.policy.evaluate(RouteView(prefix, prefix_text, path.peer, egress, attrs))
        if v.error:
            self.errors += 1
            return v
        if v.accepted and v.attrs is not None:
            v = Verdict(True, finalize(v.attrs, egress), v.trace)
        self._cache[key] = (attrs, v)
        return v

    def decide(self, paths: list[Path], prefix: ParsedPrefix, prefix_text: str, sig: tuple[bool, ...]) -> OutSet:
        """``sig``: the export policy's signature of the prefix (classify.py)."""
        key: list[object] = [sig]
        alive: list[object] = []
        for p in paths:
            v = p.verdict
            if v.accepted:
                key += (id(p.peer), id(v))
                alive += (p.peer, v)
        memo_key = tuple(key)
        hit = self._memo.get(memo_key)
        # list == compares identity first; equal-but-distinct objects would decide alike anyway
        if hit is not None and hit[0] == alive:
            return hit[1]
        result = self._decide(paths, prefix, prefix_text, sig)
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()  # a bound, not an LRU: refilling costs one decision per shape
        self._memo[memo_key] = (alive, result)
        return result

    def _decide(self, paths: list[Path], prefix: ParsedPrefix, prefix_text: str, sig: tuple[bool, ...]) -> OutSet:
        out = []
        for egress_id, (path, _) in best_per_egress(paths).items():
            v = self.evaluate(path, prefix, prefix_text, sig)
            if v.accepted and v.attrs is not None:
                out.append((self.egresses[egress_id].path_id, v.attrs))
        if not out:
            return EMPTY
        out.sort(key=lambda item: item[0])
        result = tuple(out)
        # most prefixes share an outcome: keep one copy of each
        return self._outs.setdefault(result, result)


@dataclass(frozen=True)
class Explanation:
    prefix: str
    candidates: list[dict[str, Any]]
    egresses: list[dict[str, Any]]
    announced: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "candidates": self.candidates, "egresses": self.egresses, "announced": self.announced}


def explain(export: ExportStage, paths: list[Path], prefix: ParsedPrefix, prefix_text: str, out: OutSet) -> Explanation:
    candidates = [
        {
            "peer": p.peer.name,
            "egress": p.peer.egress,
            "received": p.attrs.describe(),
            "accepted": p.verdict.accepted,
            "trace": list(p.verdict.trace),
        }
        for p in paths
    ]
    egresses = []
    for egress_id, (path, n) in sorted(best_per_egress(paths).items()):
        v = export.evaluate(path, prefix, prefix_text)
        egresses.append(
            {
                "egress": egress_id,
                "best": path.peer.name,
                "why": f"best of {n} accepted candidate(s) by local-pref, as-path length, origin, MED, peer name",
                "exported": v.accepted,
                "trace": list(v.trace),
            }
        )
    by_id = {e.path_id: e.id for e in export.egresses.values()}
    announced = [{"path_id": pid, "egress": by_id.get(pid, "?"), "attrs": a.describe()} for pid, a in out]
    return Explanation(prefix_text, candidates, egresses, announced)
