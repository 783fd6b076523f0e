"""The engine's memory for the return path (core/returnpath.py decides; this keeps what it needs and what was sent).

- per cloud, how many of its prefixes the core ranks in each order, kept up to date as decisions change
  (``note``: O(1) per changed prefix, nothing at all without a ``site``);
- what each cloud session has been sent, so a new plan goes out as its difference only (``effects``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.events import Announce, Effect, Log, Withdraw
from bgpsteer.core.family import afi_of
from bgpsteer.core.ranking import core_order
from bgpsteer.core.returnpath import Order, ReturnPlan, plan
from bgpsteer.core.rib import Entry


class ReturnState:
    def __init__(self) -> None:
        self.counts: dict[str, Counter[Order]] = defaultdict(Counter)
        self._seen: dict[str, tuple[tuple[str, ...], Order]] = {}  # prefix -> (its clouds, its order)
        self.sent: dict[str, dict[str, Attrs]] = {}  # cloud peer address -> prefix -> attributes announced
        self.plan = ReturnPlan()
        self._version = 0
        self._key: tuple[int, frozenset[str], str, int] | None = None

    def note(self, prefix: str, entry: Entry | None, egress_of: dict[int, str]) -> None:
        """A prefix's decision changed (``entry`` None: it left the RIB)."""
        old = self._seen.pop(prefix, None)
        if old is not None:
            for cloud in old[0]:
                c = self.counts[cloud]
                c[old[1]] -= 1
                if c[old[1]] <= 0:
                    del c[old[1]]
        if entry is not None and entry.paths and entry.out:
            clouds = tuple(sorted({p.peer.group for p in entry.paths}))
            pids = {pid for pid, _ in entry.out}
            order = tuple(egress_of[pid] for pid, _, _ in core_order(entry.out, pids) if pid in egress_of)
            self._seen[prefix] = (clouds, order)
            for cloud in clouds:
                self.counts[cloud][order] += 1
        self._version += 1

    def rebuild(self, rib: dict[str, Entry], egress_of: dict[int, str]) -> None:
        """Count again from the whole RIB (a reload: a site added, egresses renumbered, peers regrouped)."""
        self.counts.clear()
        self._seen.clear()
        for prefix, entry in rib.items():
            self.note(prefix, entry, egress_of)

    def effects(
        self, config: Config, usable: Callable[[str], bool], learned: tuple[str, ...] = (), learned_version: int = 0
    ) -> list[Effect]:
        """The plan for the current state, as the announcements and withdrawals that turn what each cloud session
        was sent into it (nothing when nothing it depends on changed).  ``learned``: site prefixes learned from
        the core routers (core/sitelearn.py), ``learned_version`` changes with them."""
        site = config.site
        if site is None:
            return []
        live = frozenset(e.id for e in config.egresses if usable(e.id))
        key = (self._version, live, config.digest, learned_version)
        if key == self._key:
            return []
        self._key = key
        self.plan = plan(config, lambda e: e in live, self.counts, learned)
        effects: list[Effect] = []
        for peer in config.cloud_peers:
            wanted = {prefix: r.attrs for prefix, r in self.plan.routes.get(peer.address, {}).items()}
            effects += diff(peer.address, self.sent.get(peer.address, {}), wanted)
            self.sent[peer.address] = wanted
        gone = set(self.sent) - {p.address for p in config.cloud_peers}
        for address in gone:  # a peer removed by a reload: its session goes with it
            del self.sent[address]
        changed = sum(len(e.prefixes) for e in effects if isinstance(e, (Announce, Withdraw)))
        if changed:
            preferred = ", ".join(f"{c.name} via {c.preferred or 'none'}" for c in self.plan.clouds.values())
            effects.append(Log("info", f"return path: {changed} route changes to the clouds ({preferred})"))
        return effects

    def wanted(self, peer: str, prefix: str) -> Attrs | None:
        return self.sent.get(peer, {}).get(prefix)


def diff(peer: str, old: dict[str, Attrs], new: dict[str, Attrs]) -> list[Effect]:
    """Batched withdrawals and announcements for one cloud session (no path id: no ADD-PATH towards clouds)."""
    withdraw: dict[int, list[str]] = defaultdict(list)
    announce: dict[tuple[int, Attrs], list[str]] = defaultdict(list)
    for prefix in old.keys() - new.keys():
        withdraw[afi_of(prefix)].append(prefix)
    for prefix, attrs in new.items():
        if old.get(prefix) != attrs:
            announce[(afi_of(prefix), attrs)].append(prefix)
    out: list[Effect] = [Withdraw(afi, 0, sorted(p), peer=peer) for afi, p in sorted(withdraw.items())]
    out += [Announce(afi, 0, attrs, sorted(p), peer=peer) for (afi, attrs), p in announce.items()]
    return out
