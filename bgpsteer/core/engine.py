"""The agent's pure state machine: events in, effects out.

Holds the adj-RIB-in of every cloud peer (as per-prefix candidate lists), the
import/export stages, and what has been announced to the core routers.
``handle`` (core/ingest.py, the base class) records changes and marks prefixes
dirty; ``flush`` decides the dirty prefixes and returns the announcements and
withdrawals that turn what was announced into what is wanted, batched by
attribute set.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.bounded import BoundedCache
from bgpsteer.core.classify import Classifier
from bgpsteer.core.config import Config
from bgpsteer.core.decision import ExportStage
from bgpsteer.core.diff import Diff
from bgpsteer.core.dirty import Dirty
from bgpsteer.core.events import Announce, Changed, Effect, Log, Withdraw
from bgpsteer.core.family import afi_of
from bgpsteer.core.importer import ImportStage
from bgpsteer.core.ingest import Ingest
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import FAMILY_AFI, CloudPeer, Egress, Scope
from bgpsteer.core.prefix import parse_prefix
from bgpsteer.core.ranking import core_order
from bgpsteer.core.reconcile import PeerProgress
from bgpsteer.core.relief import ReliefState
from bgpsteer.core.returnpath import Order, ReturnPlan
from bgpsteer.core.returnstate import ReturnState
from bgpsteer.core.rib import Entry, PeerInfo, Stats
from bgpsteer.core.sitelearn import SiteLearner, learner_for
from bgpsteer.core.steering import SteeringState, nh_routes
from bgpsteer.core.tunnel import TunnelFacts


class Engine(Ingest):
    def __init__(self, config: Config, now: float = 0.0) -> None:
        self._rib: dict[str, Entry] = {}
        self._dirty = Dirty()  # prefixes to decide, oldest first (core/dirty.py: deterministic for replay)
        # "every prefix is dirty" (reload, drain): a snapshot of the RIB's keys walked slice by slice.  Copying the
        # keys is ~10 ms at 500k prefixes where adding them to ``dirty`` is ~100 ms (hashing into a new table)
        self._sweep: list[str] = []
        self._sweep_at = 0
        self._stats = Stats()
        self._peers: dict[str, PeerInfo] = {}
        self._generation = 0  # bumped by reload; entries re-import lazily when theirs is older
        self._triggers: dict[str, str] = {}  # reason -> kind, since the last decision pass
        self._more_triggers = 0
        self._steering = SteeringState(config, now, self.next_decision)
        self._return = ReturnState()
        self._learner: SiteLearner | None = None
        self._install(config)

    # Read-only faces of the engine's state for the views (core/view.py, explain, simulate) and the runtime: only the
    # engine's own methods change it (ruff SLF001 keeps the underscored fields to this class, mypy the Mappings).
    @property
    def config(self) -> Config:
        return self._config

    @property
    def rib(self) -> Mapping[str, Entry]:
        return self._rib

    @property
    def peers(self) -> Mapping[str, PeerInfo]:
        return self._peers

    @property
    def egresses(self) -> Mapping[str, Egress]:
        return self._egresses

    @property
    def stats(self) -> Stats:
        return self._stats

    @property
    def steering(self) -> SteeringState:
        return self._steering

    @property
    def classifier(self) -> Classifier:
        return self._classifier

    @property
    def exporter(self) -> ExportStage:
        return self._exporter

    @property
    def policy_errors(self) -> int:
        """Import and export policy evaluations that raised (counted, the route rejected)."""
        return self._importer.errors + self._exporter.errors

    @property
    def relief(self) -> ReliefState | None:
        return self._relief

    @property
    def site_learner(self) -> SiteLearner | None:
        """Site prefixes learned from the core routers (None: ``site.learn`` is not configured)."""
        return self._learner

    def next_decision(self) -> int:
        self._stats.decision_id += 1
        return self._stats.decision_id

    def _install(self, config: Config) -> None:
        self._config = config
        self._egresses = {e.id: e for e in config.egresses}
        self._importer = ImportStage(config.import_policy, config.safety, config.agent.local_asn)
        self._exporter = ExportStage(
            config.export_policy,
            self._egresses,
            frozenset(self._steering.drained),
            config.steering.cost_tiebreak,
            config.steering.multipath,
            config.agent.local_asn,
        )
        if config.steering.reason_communities:
            statements = {st.name: i + 1 for i, st in enumerate(config.import_policy.statements)}
            self._exporter.reasons = (config.agent.local_asn, statements)
        next_hops = [(e.id, parse_prefix(route)) for e in config.egresses for _, route, _ in nh_routes(e)]
        self._classifier = Classifier(
            self._importer.prefix_safety,
            config.import_policy,
            config.export_policy,
            config.compliance,
            next_hops,
            config.steering.multipath,
        )
        self._learner = learner_for(config, self._learner)
        # a reload starts relief afresh: every prefix is re-decided anyway, and moves follow the new thresholds
        self._relief = ReliefState(config.steering.relief, self._egresses) if config.steering.relief else None
        old = self._peers
        self._peers = {}
        for p in config.cloud_peers:
            info = old.get(p.address) or PeerInfo(p)
            info.peer = p
            self._peers[p.address] = info

    # -- decisions ------------------------------------------------------------------

    def flush(self, now: float, limit: int | None = None) -> list[Effect]:
        """Decide the dirty prefixes (at most ``limit`` of them); return the announcements and withdrawals needed.

        With a limit, a large pass (a table load, a reload, a drain at 1M prefixes) is decided in
        slices, so the caller can read ExaBGP between them; what is left stays dirty."""
        if not self.pending():
            self._triggers.clear()
            return []
        batch = self._take(limit)
        diff = Diff()
        rib, decide, classes, gen = self._rib, self._exporter.decide, self._classifier.prefix_classes, self._generation
        track, egress_of = self._config.site is not None, self._config.egress_of
        for prefix in batch:
            entry = rib.get(prefix)
            if entry is None:
                continue
            if entry.gen != gen:
                self._reimport(prefix, entry)
            kid = entry.prefix_class
            new = decide(entry.paths, entry.parsed, prefix, kid, classes[kid])
            old = entry.out
            if new is not old and new != old:
                diff.add(prefix, old, new)
                entry.out = new
                if track:
                    self._return.note(prefix, entry, egress_of)
            if not entry.paths:
                del rib[prefix]
                if track:
                    self._return.note(prefix, None, egress_of)
        effects = self._effects(diff, now, len(batch)) + self._return_effects()
        if not self.pending():  # the reasons stay with the pass until its last slice
            self._triggers.clear()
            self._more_triggers = 0
        return effects

    def _effects(self, diff: Diff, now: float, decided: int) -> list[Effect]:
        """A pass's difference as batched withdrawals and announcements, its journal record, and the counters."""
        stats = self._stats
        stats.decisions += decided
        stats.last_decision = now
        effects: list[Effect] = []
        kind = next(iter(self._triggers.values()), "other")
        counts = stats.by_reason.setdefault(kind, [0, 0])
        per_pid = stats.paths_by_path_id
        for pid, n in diff.added.items():
            per_pid[pid] = per_pid.get(pid, 0) + n
        for (afi, pid), prefixes in diff.withdraw.items():
            stats.withdrawals += len(prefixes)
            counts[1] += len(prefixes)
            per_pid[pid] = per_pid.get(pid, 0) - len(prefixes)
            effects.append(Withdraw(afi, pid, prefixes))
        for (afi, pid, attrs), prefixes in diff.announce.items():
            stats.announcements += len(prefixes)
            counts[0] += len(prefixes)
            effects.append(Announce(afi, pid, attrs, prefixes))
        if diff.changes:
            reason = "; ".join(self._triggers) + (f" (+{self._more_triggers} more)" if self._more_triggers else "")
            effects.append(Changed(self.next_decision(), now, reason or "decision", diff.changes, kind))
        return effects

    def pending(self) -> int:
        """Prefixes still to decide (a prefix both dirty and in the sweep counts twice: an upper bound)."""
        return len(self._dirty) + len(self._sweep) - self._sweep_at

    def mark_all(self) -> None:
        """Every prefix is to be decided again (a reload, a drain): decided in slices by ``flush``."""
        self._sweep = list(self._rib)
        self._sweep_at = 0

    def _take(self, limit: int | None) -> list[str]:
        """The next slice to decide: dirty prefixes first, then the sweep (a prefix in both is decided twice; the
        second decision finds nothing changed)."""
        dirty = self._dirty
        if limit is not None and len(dirty) >= limit:
            return dirty.take(limit)
        batch = dirty.take()
        sweep, start = self._sweep, self._sweep_at
        end = len(sweep) if limit is None else min(len(sweep), start + limit - len(batch))
        batch.extend(sweep[start:end])
        if end >= len(sweep):
            self._sweep, self._sweep_at = [], 0
        else:
            self._sweep_at = end
        return batch

    def reload(self, config: Config, now: float, decide: bool = True) -> list[Effect]:
        """Swap in a validated config: every path is re-evaluated and the difference announced.

        The caller validates first; evaluation cannot fail (policy errors reject the route), so
        the swap is all or nothing.  Re-import is lazy: every entry is marked with the old
        generation and dirty, and is re-evaluated before anything reads or decides it, so a
        large RIB is re-decided in slices (``decide=False``: the caller flushes) without ever
        mixing verdicts of the two configurations in one decision.
        """
        old_names = {p.address for p in self._config.cloud_peers}
        if not self.pending():  # a pass still in progress keeps its reasons: its prefixes are decided with this one
            self._triggers.clear()
            self._more_triggers = 0
        effects: list[Effect] = self._steering.configure(config, now)
        self._install(config)
        self._generation += 1
        self.mark_all()
        if config.site is not None:
            self._return.rebuild(self._rib, config.egress_of)
        removed = old_names - {p.address for p in config.cloud_peers}
        if removed:
            effects.append(Log("info", f"peers removed by reload: {', '.join(sorted(removed))}"))
        effects.append(Log("info", "configuration reloaded", {"digest": config.digest}))
        self._trigger("reload", f"reload (config digest {config.digest})")
        return effects + self.flush(now) if decide else effects

    def refresh(self, prefix: str) -> Entry | None:
        """The entry, re-imported first if a reload has not reached it yet (for views)."""
        entry = self._rib.get(prefix)
        if entry is not None and entry.gen != self._generation:
            self._reimport(prefix, entry)
        return entry

    # -- inspection -------------------------------------------------------------------

    def progress(self) -> list[PeerProgress]:
        """What reconcile needs to know of each cloud peer (core/reconcile.py)."""
        return [
            PeerProgress(
                i.peer.egress,
                frozenset(FAMILY_AFI[f] for f in i.peer.families),
                i.state,
                i.state_known,
                frozenset(i.eor),
                i.last_heard,
                i.relearn_from,
                i.peer.name,
                frozenset(i.refreshing),
                frozenset(i.refreshed),
            )
            for i in self._peers.values()
        ]

    def cloud_peer(self, address: str) -> CloudPeer | None:
        """The configured cloud peer at an address (None: a core router, or no one)."""
        info = self._peers.get(address)
        return info.peer if info is not None else None

    def assume_down(self, egress: str, now: float) -> list[Effect]:
        """What-if input of policy tests (no probes): the egress counts as failed, as its probes would have found."""
        return self._steering.assume_down(egress, now) + self._return_effects()

    def wanted(self, prefix: str, path_id: int, scope: Scope | None = None) -> Attrs | None:
        """What is announced now for this path (a steered route, or an egress next-hop route in the scope)."""
        entry = self._rib.get(prefix)
        if entry is not None:
            for pid, attrs in entry.out:
                if pid == path_id:
                    return attrs
            return None
        return self._steering.route(prefix, path_id, scope)

    def caches(self) -> dict[str, BoundedCache[Any, Any]]:
        """Every cache the engine keeps, by name: each bounded (see bounded.py and docs/design.md's table)."""
        return {
            "import_verdicts": self._importer.cache,
            "import_next_hops": self._importer.nh_cache,
            "import_rejections": self._importer.rejections,
            "export_verdicts": self._exporter.cache,
            "export_decisions": self._exporter.memo,
            "export_outcomes": self._exporter.outs,
        }

    def announced_routes(self) -> Iterator[tuple[str, int, Attrs]]:
        """Everything announced to core routers: steered paths and egress next-hop routes."""
        for prefix, entry in self._rib.items():
            for pid, attrs in entry.out:
                yield prefix, pid, attrs
        yield from self._steering.routes()

    def full_state(self) -> list[Effect]:
        """Every current announcement, batched: used to re-sync ExaBGP."""
        batches: dict[tuple[int, int, Attrs], list[str]] = defaultdict(list)
        for prefix, pid, attrs in self.announced_routes():
            batches[(afi_of(prefix), pid, attrs)].append(prefix)
        return [Announce(afi, pid, attrs, prefixes) for (afi, pid, attrs), prefixes in batches.items()]

    def rejected(self, peer: str | None = None) -> Iterator[tuple[str, str, tuple[str, ...]]]:
        """(prefix, peer name, trace) of every route the import stage rejected."""
        for prefix, entry in self._rib.items():
            for p in entry.paths:
                if not p.verdict.accepted and (peer is None or p.peer.name == peer):
                    yield prefix, p.peer.name, p.verdict.trace

    # -- steering ---------------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        """Effects to send once at start: the next-hop routes of the egresses in service (and the site's prefixes
        to the clouds, when a site is configured)."""
        return self._steering.start(now) + self._return_effects()

    def restore(self, data: dict[str, Any], saved_at: float) -> list[Effect]:
        """State persisted by an earlier run (before start): egress health, dampening and drain, and the
        last decision id, so ids stay monotonic across restarts.  ``saved_at``: this clock's reading when it was
        saved (now, less the time the agent was not running)."""
        effects = self._steering.restore(data.get("steering") or {}, saved_at)
        self._exporter.set_drained(frozenset(self._steering.drained))
        if self._learner is not None:
            self._learner.restore(data.get("site_learned"))
        last = data.get("decision_id")
        if isinstance(last, int) and last > self._stats.decision_id:
            self._stats.decision_id = last
        return effects

    def persist(self, now: float) -> dict[str, Any]:
        out: dict[str, Any] = {"steering": self._steering.persist(now), "decision_id": self._stats.decision_id}
        if self._learner is not None:
            out["site_learned"] = self._learner.persist()
        return out

    def probe_round(self, egress: str, samples: Iterable[Sample], now: float) -> list[Effect]:
        return self._steering.probe_round(egress, samples, now) + self._return_effects()

    def tick(self, now: float) -> list[Effect]:
        effects = self._steering.tick(now) + self._relief_step(now)
        if self._learner is not None:
            for prefix in self._learner.expire(now):
                effects.append(Log("warning", f"site prefix {prefix} dropped: its core session stayed down", {}))
        return effects + self._return_effects()

    def tunnel(self, facts: TunnelFacts, now: float) -> list[Effect]:
        return self._steering.tunnel(facts, now) + self._return_effects()

    # -- return path ------------------------------------------------------------------

    def returning(self, egress: str) -> bool:
        """Whether the clouds may answer through this egress: in service for the default sessions, not drained."""
        return self._steering.usable(egress) and egress not in self._steering.drained

    @property
    def site_learned(self) -> tuple[str, ...]:
        """The site prefixes learned from the core routers that the return path announces (core/sitelearn.py)."""
        learner, site = self._learner, self._config.site
        return learner.prefixes(site.prefixes) if learner is not None and site is not None else ()

    def _return_effects(self) -> list[Effect]:
        version = self._learner.version if self._learner is not None else 0
        return self._return.effects(self._config, self.returning, self.site_learned, version)

    @property
    def return_plan(self) -> ReturnPlan:
        """The return path as last decided (core/returnpath.py): per cloud and per session, with reasons."""
        return self._return.plan

    @property
    def return_counts(self) -> Mapping[str, Counter[Order]]:
        """Per cloud, how many of its prefixes the core ranks in each order (what the return path follows)."""
        return self._return.counts

    def return_wanted(self, peer: str, prefix: str) -> Attrs | None:
        """What a cloud session is to hold for a site prefix now (None: nothing)."""
        return self._return.wanted(peer, prefix)

    def report_load(
        self,
        utilization: dict[str, float],
        volumes: dict[str, float],
        now: float,
        source: str = "pushed",
        max_age: float | None = None,
    ) -> list[Effect]:
        """Measured utilization per egress and volume per prefix (Mbit/s), for relief (core/relief.py)."""
        if self._relief is None:
            return [Log("warning", "load reported but steering.relief is not configured; ignored", {})]
        self._relief.report(utilization, volumes, now, source, max_age)
        return self._relief_step(now)

    def core_order_of(self, prefix: str) -> list[str]:
        """The egresses the default sessions' core uses for a prefix, best first, usable ones only (none for a
        multipath prefix: it is spread already)."""
        entry = self._rib.get(prefix)
        if entry is None or self._classifier.prefix_classes[entry.prefix_class].multipath:
            return []
        usable = {self._egresses[e].path_id for e in self._steering.in_service_default if e in self._egresses}
        egress_of = self._config.egress_of
        return [egress_of[pid] for pid, _, _ in core_order(entry.out, usable) if pid in usable and pid in egress_of]

    def _relief_step(self, now: float) -> list[Effect]:
        if self._relief is None:
            return []
        moves, returns = self._relief.step(now, self.core_order_of)
        if not moves and not returns:
            return []
        effects: list[Effect] = []
        for m in moves:
            self._trigger("relief", f"{m.prefix}: {m.reason}")
            effects.append(Log("warning", f"{m.prefix}: {m.reason}", {"egress": m.source, "prefix": m.prefix}))
        for m in returns:
            why = f"{m.prefix}: relief over, back to egress {m.source}"
            self._trigger("relief", why)
            effects.append(Log("info", why, {"egress": m.source, "prefix": m.prefix}))
        self._exporter.relieved = {
            p: (self._egresses[m.source].path_id, self._egresses[m.target].path_id)
            for p, m in self._relief.moved.items()
        }
        self._dirty.update(m.prefix for m in (*moves, *returns))
        return effects + self.flush(now)

    def drain(self, egress: str, on: bool, now: float, decide: bool = True) -> list[Effect]:
        """Drain (RFC 8326) or undrain an egress: its paths are re-announced (``decide=False``: the caller flushes,
        in slices).  Every prefix is re-decided (memo hits for the others): marking them is a copy of the RIB's keys,
        where finding the egress's own prefixes would be a Python loop over the whole RIB."""
        if egress not in self._egresses:
            raise KeyError(egress)
        log = self._steering.drain(egress, on)
        self._exporter.set_drained(frozenset(self._steering.drained))
        self._trigger("drain", f"{'drain' if on else 'undrain'} egress {egress}")
        self.mark_all()
        return [log, *self.flush(now)] if decide else [log]
