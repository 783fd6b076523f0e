"""Decision: from the candidate paths of one prefix to what core routers get.

Each egress contributes at most one path (its best candidate); every egress
whose path passes the export policy is announced, with its own ADD-PATH id,
so core routers hold the backups before they need them.
"""

from __future__ import annotations

from bgpsteer.core.attrs import U32_MAX, Attrs
from bgpsteer.core.bounded import BoundedCache
from bgpsteer.core.classify import PrefixClass
from bgpsteer.core.codes import Wire
from bgpsteer.core.model import CloudPeer, Egress, Multipath
from bgpsteer.core.policy import Policy, RouteView, Verdict
from bgpsteer.core.prefix import ParsedPrefix
from bgpsteer.core.ranking import candidate_key, core_order, local_pref

# per generation (bounded.py): decisions repeat within a table load; across months only the recent ones matter
EXPORT_CACHE_SIZE = 4096
MEMO_SIZE = 8192
OUTS_SIZE = 4096

OutSet = tuple[tuple[int, Attrs], ...]  # (path id, attributes), sorted by path id
EMPTY: OutSet = ()


class Path:
    """One candidate: a prefix as learned from one cloud peer."""

    __slots__ = ("attrs", "peer", "verdict")

    def __init__(self, peer: CloudPeer, attrs: Attrs, verdict: Verdict) -> None:
        self.peer = peer
        self.attrs = attrs
        self.verdict = verdict


def preference_key(path: Path) -> tuple[int, int, int, int, str]:
    """Lower is better (core/ranking.py's candidate_key)."""
    a = path.verdict.attrs
    assert a is not None
    return candidate_key(a, path.peer.name)


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


GRACEFUL_SHUTDOWN = (65535, 0)  # RFC 8326
DRAINED = "GRACEFUL_SHUTDOWN (65535:0), LOCAL_PREF 0"  # what a drained egress's paths carry, in every message


def cost_bonus(paths: list[tuple[int, int, Egress]]) -> dict[int, int]:
    """Cost per GB, then egress id, break ties between equal LOCAL_PREFs: path id -> LOCAL_PREF to add.

    Among the paths of one prefix with the same policy LOCAL_PREF, the cheapest gets +(n-1), the next +(n-2), ...:
    the core then prefers it without any further tie-break.  The tie-break never reverses the policy: a group's
    LOCAL_PREFs stay strictly between the policy LOCAL_PREFs next below and above it among the prefix's paths
    (and within 1 .. 2^32-1, which ExaBGP takes).  Where there is not room for n distinct values (policies that set
    preferences 1 apart, or the top of the range) the group steps down below its LOCAL_PREF, and what still finds no
    room shares the lowest value left (a tie for the core to break).  A drained path (LOCAL_PREF 0) is left alone."""
    groups: dict[int, list[tuple[float, str, int]]] = {}
    for pid, lp, e in paths:
        if lp > 0:
            groups.setdefault(lp, []).append((e.cost_per_gb, e.id, pid))
    levels = sorted(groups)
    bonus: dict[int, int] = {}
    for i, lp in enumerate(levels):
        members = groups[lp]
        if len(members) < 2:  # noqa: PLR2004 - a tie needs two
            continue
        members.sort()
        above = (levels[i + 1] - 1 if i + 1 < len(levels) else U32_MAX) - lp  # room above, up to the next level
        below = lp - (levels[i - 1] + 1 if i else 1)  # and below, down to the level under it (0 is drained)
        top = min(len(members) - 1, above)
        for rank, (_, _, pid) in enumerate(members):
            bonus[pid] = max(top - rank, -below)
    return bonus


AS_TRANS = 23456  # RFC 6793: a 4-byte AS where a 2-byte field is all there is (the link-bandwidth community)
U16 = 0xFFFF


def link_bandwidths(egresses: dict[str, Egress], multipath: Multipath | None, asn: int) -> dict[int, tuple[int, int]]:
    """path id -> (AS, bytes/s) for the link-bandwidth community of each egress with a capacity (weights: capacity).
    Only the ratios matter to the core: when the fastest egress does not fit the community's 32 bits (34 Gbit/s),
    every value is scaled down by the same factor."""
    if multipath is None or multipath.weights != "capacity":
        return {}
    rates = {e.path_id: e.capacity_mbps * 1e6 / 8 for e in egresses.values() if e.capacity_mbps}
    if not rates:
        return {}
    scale = max(1.0, max(rates.values()) / U32_MAX)
    as16 = asn if 0 < asn <= U16 else AS_TRANS
    return {pid: (as16, max(1, int(rate / scale))) for pid, rate in rates.items()}


def spread(out: list[tuple[int, Attrs]], bandwidth: dict[int, tuple[int, int]]) -> list[tuple[int, Attrs]]:
    """One rank for every path of a multipath prefix: the highest LOCAL_PREF among them, no MED (the core then
    load-balances across them, ECMP), and each egress's link bandwidth (the core weighs them: UCMP).  A drained path
    (LOCAL_PREF 0) keeps its place at the bottom."""
    live = [a.local_pref or 0 for _, a in out if (a.local_pref or 0) > 0]
    top = max(live) if live else 0
    result = []
    for pid, a in out:
        if (a.local_pref or 0) > 0:
            a = a.evolve(local_pref=top, med=None)
        bw = bandwidth.get(pid)
        result.append((pid, a.evolve(link_bandwidth=bw) if bw else a))
    return result


def relieve(out: OutSet, path_id: int, target: int | None = None) -> OutSet:
    """Move a prefix off one egress (relief.py): its path drops below every other usable one (LOCAL_PREF one under
    the lowest other, at least 1; a drained path stays at 0), so the core keeps it as a backup; and the egress
    relief chose (``target``) is lifted above every other usable path where one would outrank it, so the core
    sends the traffic where relief counted it, not merely to whatever ranks next."""
    others = [a.local_pref or 0 for pid, a in out if pid != path_id and (a.local_pref or 0) > 0]
    if not others:
        return out
    low = max(1, min(others) - 1)
    moved = tuple(
        (pid, a.evolve(local_pref=low) if pid == path_id and (a.local_pref or 0) > low else a) for pid, a in out
    )
    lp = {pid: a.local_pref or 0 for pid, a in moved}
    if target is None or lp.get(target, 0) <= 0:
        return moved
    rivals = [v for pid, v in lp.items() if pid != target and v > 0]
    top = max(rivals, default=0)
    if top < lp[target]:
        return moved
    lifted = min(U32_MAX, top + 1)
    return tuple((pid, a.evolve(local_pref=lifted) if pid == target else a) for pid, a in moved)


def finalize(attrs: Attrs, drained: bool) -> Attrs:
    if drained:
        # RFC 8326: keep the path (traffic flows until the core has moved) but make it least preferred
        comms = attrs.communities if GRACEFUL_SHUTDOWN in attrs.communities else (*attrs.communities, GRACEFUL_SHUTDOWN)
        return attrs.evolve(local_pref=0, communities=comms)
    return attrs.evolve(local_pref=local_pref(attrs))


class ExportStage:
    """Export policy applied to each egress's best path, cached like import."""

    def __init__(
        self,
        policy: Policy,
        egresses: dict[str, Egress],
        drained: frozenset[str] = frozenset(),
        cost_tiebreak: bool = True,
        multipath: Multipath | None = None,
        asn: int = 0,
    ) -> None:
        self.policy = policy
        self.egresses = egresses
        self.drained = drained
        self.cost_tiebreak = cost_tiebreak
        self.bandwidth = link_bandwidths(egresses, multipath, asn)
        # prefix -> (path id moved off, path id moved to) by relief (relief.py)
        self.relieved: dict[str, tuple[int, int]] = {}
        # steering.reason_communities: (local AS, import statement name -> 1-based index); None: off
        self.reasons: tuple[int, dict[str, int]] | None = None
        self._pid_map = {e.path_id: e for e in egresses.values()}
        self.cache: BoundedCache[tuple[object, ...], tuple[Attrs, Verdict]] = BoundedCache(
            EXPORT_CACHE_SIZE
        )  # by id(attrs), as in ImportStage
        self.outs: BoundedCache[OutSet, OutSet] = BoundedCache(OUTS_SIZE)
        # decide() memo: paths with the same peers, the same accepted attributes and the same
        # export signature decide alike.  Keyed by ids; the value keeps those objects alive.
        self.memo: BoundedCache[tuple[object, ...], tuple[list[object], OutSet]] = BoundedCache(MEMO_SIZE)
        self.errors = 0

    def evaluate(
        self, path: Path, prefix: ParsedPrefix, prefix_text: str, sig: tuple[bool, ...] | None = None
    ) -> Verdict:
        egress = self.egresses[path.peer.egress]
        attrs = path.verdict.attrs
        assert attrs is not None
        key = (path.peer.name, id(attrs), self.policy.signature(prefix) if sig is None else sig)
        hit = self.cache.get(key)
        if hit is not None and hit[0] is attrs:
            return hit[1]
        v = self.policy.evaluate(RouteView(prefix, prefix_text, path.peer, egress, attrs))
        if v.error:
            self.errors += 1
            return v
        if v.accepted and v.attrs is not None:
            drained = egress.id in self.drained
            v = Verdict(
                True, finalize(v.attrs, drained), v.trace + ((f"egress drained: {DRAINED}",) if drained else ())
            )
        self.cache.put(key, (attrs, v))
        return v

    def _reasons(
        self, out: list[tuple[int, Attrs]], best: dict[str, tuple[Path, int]], spread: bool, relieved: int | None
    ) -> list[tuple[int, Attrs]]:
        """Each path gets LOCAL_ASN:function:value large communities: its egress, its rank at the core (ranking.py's
        core_order over the attributes as they go on the wire, so after relief), its import statement; and the
        relieved path the relief mark."""
        assert self.reasons is not None
        asn, index = self.reasons
        by_pid = {self.egresses[e].path_id: p for e, (p, _) in best.items()}  # the candidates _decide exported
        rank = {pid: i + 1 for i, (pid, _, _) in enumerate(core_order(out, {pid for pid, _ in out}))}
        result = []
        for pid, a in out:
            trace = by_pid[pid].verdict.trace if pid in by_pid else ()
            last = trace[-1] if trace else ""
            stmt = next((i for name, i in index.items() if f"statement {name!r} matched" in last), 0)
            tags = [(asn, int(Wire.EGRESS), pid), (asn, int(Wire.RANK), rank[pid]), (asn, int(Wire.STATEMENT), stmt)]
            if spread:
                tags.append((asn, int(Wire.MULTIPATH), 1))
            if pid == relieved:
                tags.append((asn, int(Wire.RELIEF), 1))
            a = a.evolve(large_communities=tuple(sorted({*a.large_communities, *tags})))
            result.append((pid, a))
        return result

    def set_drained(self, drained: frozenset[str]) -> None:
        self.drained = drained
        self.cache.clear()
        self.memo.clear()

    def decide(self, paths: list[Path], prefix: ParsedPrefix, prefix_text: str, kid: int, pc: PrefixClass) -> OutSet:
        """``kid``/``pc``: the prefix's class (export signature and compliance; classify.py)."""
        moved = self.relieved.get(prefix_text) if self.relieved else None
        if moved is not None:  # relief is per prefix: not shared with the memo
            return self._decide(paths, prefix, prefix_text, pc, moved)
        key: list[object] = [kid]
        alive: list[object] = []
        for p in paths:
            v = p.verdict
            if v.accepted:
                key += (id(p.peer), id(v))
                alive += (p.peer, v)
        memo_key = tuple(key)
        hit = self.memo.get(memo_key)
        # list == compares identity first; equal-but-distinct objects would decide alike anyway
        if hit is not None and hit[0] == alive:
            return hit[1]
        result = self._decide(paths, prefix, prefix_text, pc)
        self.memo.put(memo_key, (alive, result))
        return result

    def _decide(
        self,
        paths: list[Path],
        prefix: ParsedPrefix,
        prefix_text: str,
        pc: PrefixClass,
        relief: tuple[int, int] | None = None,
    ) -> OutSet:
        """``relief``: (path id moved off, path id moved to) for a prefix relief moved; applied before the reason
        communities, which describe what goes on the wire."""
        out: list[tuple[int, Attrs]] = []
        allowed = pc.allowed
        best = best_per_egress(paths)
        for egress_id, (path, _) in best.items():
            if allowed is not None and self.egresses[egress_id].jurisdiction not in allowed:
                continue  # compliance is hard: a foreign egress is never announced, whatever else fails
            v = self.evaluate(path, prefix, prefix_text, pc.export_sig)
            if v.accepted and v.attrs is not None:
                out.append((self.egresses[egress_id].path_id, v.attrs))
        if not out:
            return EMPTY
        if pc.multipath:
            out = spread(out, self.bandwidth)
        elif self.cost_tiebreak and len(out) > 1:
            bonus = cost_bonus([(pid, a.local_pref or 0, self._pid_map[pid]) for pid, a in out])
            out = [
                (pid, a.evolve(local_pref=(a.local_pref or 0) + bonus[pid]) if bonus.get(pid) else a) for pid, a in out
            ]
        if relief is not None:
            out = list(relieve(tuple(out), *relief))
        if self.reasons is not None:
            out = self._reasons(out, best, pc.multipath, relief[0] if relief else None)
        out.sort(key=lambda item: item[0])
        result = tuple(out)
        # most prefixes share an outcome: keep one copy of each
        shared = self.outs.get(result)
        if shared is None:
            self.outs.put(result, result)
            return result
        return shared
