"""The core's read API: what every view (NOC answers, metrics, simulate, the journal's readers) may know.

Adapters read the engine through ``CoreView`` only, never through its fields, so a rule (which egress is in
service for a scope, which path the core ranks first, what counts as fail static) is computed in one place and
every view shows the same answer.  Pure: the clock comes in as ``now``; answers are immutable values.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.budget import Held
from bgpsteer.core.config import Config
from bgpsteer.core.explain import explain
from bgpsteer.core.explain_return import explain_site, return_of
from bgpsteer.core.model import DEFAULT_SCOPE, Egress, Scope
from bgpsteer.core.ranking import core_choice, core_order, multipath_shares
from bgpsteer.core.relief import Move
from bgpsteer.core.returnpath import limit
from bgpsteer.core.simulate import simulate
from bgpsteer.core.viewtypes import Candidate as Candidate
from bgpsteer.core.viewtypes import ClassFit as ClassFit
from bgpsteer.core.viewtypes import Counters as Counters
from bgpsteer.core.viewtypes import EgressLoad as EgressLoad
from bgpsteer.core.viewtypes import EgressView as EgressView
from bgpsteer.core.viewtypes import PeerView as PeerView
from bgpsteer.core.viewtypes import PrefixDecision as PrefixDecision
from bgpsteer.core.viewtypes import RankedPath as RankedPath
from bgpsteer.core.viewtypes import ReturnSession as ReturnSession
from bgpsteer.core.viewtypes import SiteLearning as SiteLearning
from bgpsteer.core.viewtypes import UnknownName as UnknownName

if TYPE_CHECKING:
    from bgpsteer.core.engine import Engine


class CoreView:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- configuration and names --------------------------------------------------

    @property
    def config(self) -> Config:
        return self._engine.config

    def require_egress(self, egress: str) -> Egress:
        e = self._engine.egresses.get(egress)
        if e is None:
            raise UnknownName(f"unknown egress {egress!r}; egresses: {', '.join(self._engine.egresses)}")
        return e

    def scope(self, app_class: str | None) -> Scope:
        """The scope of an application class's sessions (None: the default sessions); an unknown class is an error."""
        if app_class is not None and app_class not in {c.name for c in self.config.app_classes}:
            names = ", ".join(c.name for c in self.config.app_classes) or "none configured"
            raise UnknownName(f"unknown class {app_class!r}; classes: {names}")
        return Scope(app_class)

    def require_peer(self, name: str) -> None:
        if name not in {i.peer.name for i in self._engine.peers.values()}:
            names = ", ".join(sorted(i.peer.name for i in self._engine.peers.values()))
            raise UnknownName(f"unknown cloud peer {name!r}; peers: {names}")

    # -- steering -------------------------------------------------------------------

    def in_service(self, scope: Scope = DEFAULT_SCOPE) -> frozenset[str]:
        """The egresses whose next-hop route is announced on the scope's sessions."""
        return frozenset(self._engine.steering.in_service.get(scope, set()))

    def usable_path_ids(self, scope: Scope = DEFAULT_SCOPE) -> set[int]:
        return {self._engine.egresses[e].path_id for e in self.in_service(scope)}

    @property
    def fail_static(self) -> bool:
        return self._engine.steering.fail_static

    def compliance_usable(self) -> dict[str, list[str]]:
        """Per compliance rule, the egresses in service (default sessions) inside its jurisdictions: none means
        the prefixes it binds have no usable path (they are never sent abroad instead)."""
        live = self.in_service()
        return {
            rule.name: sorted(
                e.id for e in self._engine.config.egresses if e.id in live and e.jurisdiction in rule.jurisdictions
            )
            for rule in self._engine.config.compliance
        }

    def class_fail_static(self, app_class: str) -> bool:
        return app_class in self._engine.steering.class_static

    def egress(self, egress: str, now: float) -> EgressView:
        e = self.require_egress(egress)
        st = self._engine.steering
        h = st.health[egress]
        classes = tuple(
            ClassFit(
                c,
                st.sla.fits(c, egress),
                st.sla.why[(c, egress)],
                st.sla.fit[(c, egress)].state,
                st.usable(egress, Scope(c)),
                c in st.class_static,
            )
            for c in st.sla.app_classes
        )
        stats = st.stats[egress]
        return EgressView(
            e,
            h.state,
            h.as_dict(now),
            st.usable(egress),
            egress in st.drained,
            h.current_penalty(now),
            self._engine.stats.paths_by_path_id.get(e.path_id, 0),
            stats.summary(),
            {t: s.as_dict() for t, s in stats.targets.items()},
            classes,
            st.tunnels[egress].as_dict(now) if egress in st.tunnels else None,
        )

    def egresses(self, now: float) -> list[EgressView]:
        return [self.egress(e.id, now) for e in self.config.egresses]

    # -- peers ------------------------------------------------------------------------

    def peers(self) -> list[PeerView]:
        return [
            PeerView(
                i.peer.name,
                address,
                i.peer.asn,
                i.peer.egress,
                i.peer.provider,
                i.peer.region,
                i.state,
                i.last_change or None,
                i.last_reason,
                i.routes,
                i.accepted,
                i.refused,
                tuple(sorted(i.eor)),
            )
            for address, i in self._engine.peers.items()
        ]

    # -- prefixes -----------------------------------------------------------------------

    def longest_match(self, target: str) -> str | None:
        """The RIB prefix an address (or prefix) falls in, longest first, as a router's 'show ip bgp ADDRESS'.
        Raises ValueError for text that is neither."""
        net = ipaddress.ip_network(target, strict=False)
        rib = self._engine.rib
        for length in range(net.prefixlen, -1, -1):
            candidate = str(net.supernet(new_prefix=length)) if length < net.prefixlen else str(net)
            if candidate in rib:
                return candidate
        return None

    def prefixes(self, egress: str | None = None, peer: str | None = None) -> Iterator[str]:
        """RIB prefixes, optionally only those announced through an egress or learned from a cloud peer."""
        pid = self.require_egress(egress).path_id if egress is not None else None
        if peer is not None:
            self.require_peer(peer)
        for prefix, entry in self._engine.rib.items():
            if pid is not None and all(p != pid for p, _ in entry.out):
                continue
            if peer is not None and all(p.peer.name != peer for p in entry.paths):
                continue
            yield prefix

    def prefix_count(self) -> int:
        return len(self._engine.rib)

    def decision(self, prefix: str, scope: Scope = DEFAULT_SCOPE) -> PrefixDecision | None:
        """What is announced for a prefix and how the core ranks it, as the scope's sessions see it."""
        entry = self._engine.refresh(prefix)
        if entry is None:
            return None
        usable = self.usable_path_ids(scope)
        egress_of = self.config.egress_of
        primary, tie = core_choice(entry.out, usable)
        ranking = tuple(
            RankedPath(i + 1, egress_of.get(pid, "?"), pid, a, pid in usable, tied)
            for i, (pid, a, tied) in enumerate(core_order(entry.out, usable))
        )
        candidates = tuple(Candidate(p.peer.name, p.peer.egress, p.verdict.accepted) for p in entry.paths)
        spread = self._engine.classifier.prefix_classes[entry.prefix_class].multipath
        shares = (
            {egress_of.get(pid, "?"): share for pid, share in multipath_shares(entry.out, usable).items()}
            if spread
            else {}
        )
        return PrefixDecision(
            prefix, scope, egress_of.get(primary) if primary is not None else None, tie, ranking, candidates, shares
        )

    def explain(self, prefix: str, scope: Scope = DEFAULT_SCOPE) -> dict[str, Any] | None:
        """The whole reasoning for a prefix: candidates and their import traces, per egress the checks (compliance,
        health, drain, SLA per class, cost tie-break) and export trace, the ranking at the core, the sessions."""
        return explain(self._engine, self.decision(prefix, scope), self.relief_move(prefix), prefix, scope)

    def simulate(
        self,
        fail: set[str],
        now: float,
        config: Config | None = None,
        degrade: dict[str, dict[str, float]] | None = None,
        load: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        """What-if (core/simulate.py): where every prefix would leave if egresses failed or degraded, or the config
        changed; and what relief would move at a reported load."""
        return simulate(self._engine, fail, now, config, degrade, load)

    def load(self, now: float | None = None) -> list[EgressLoad]:
        """Per egress with a capacity: its load, where it came from, and what relief moved off it (empty without
        steering.relief).  At ``now``, a report older than its max age shows as unknown (None), never as zero."""
        r = self._engine.relief
        if r is None:
            return []
        moved: dict[str, int] = {}
        for m in r.moved.values():
            moved[m.source] = moved.get(m.source, 0) + 1
        out = []
        for eid, cap in sorted(r.capacity.items()):
            fresh = r.fresh(eid, now)
            mbps, at = r.util.get(eid, (None, None))
            out.append(
                EgressLoad(
                    eid,
                    cap,
                    r.share(eid, now),
                    moved.get(eid, 0),
                    mbps if fresh else None,
                    r.source.get(eid),
                    round(now - at, 1) if now is not None and at is not None else None,
                )
            )
        return out

    def volumes(self, now: float | None = None) -> tuple[str, dict[str, float]]:
        """Where relief's per-prefix volumes came from ("pushed", "flow") and those that hold at ``now`` (Mbit/s)."""
        r = self._engine.relief
        if r is None:
            return "pushed", {}
        return r.volume_source, dict(r.known_volumes(now))

    def explain_site(self, target: str) -> dict[str, Any] | None:
        """For a site address or prefix: what each cloud session is sent covering it, and the session each cloud
        picks by its provider's order (None: not a site prefix)."""
        learner = self._engine.site_learner
        origin = learner.origin if learner is not None else (lambda _: None)
        return explain_site(self._engine.config, self._engine.return_plan, target, origin)

    def site_learning(self) -> SiteLearning | None:
        """What the site learns from the core routers (None: ``site.learn`` is not configured)."""
        learner, site = self._engine.site_learner, self._engine.config.site
        if learner is None or site is None:
            return None
        announced = learner.prefixes(site.prefixes)
        held = sum(1 for p in announced if not learner.current(p))
        st = learner.stats
        return SiteLearning(
            tuple(sorted(set(learner.routers.values()))),
            learner.learn.prefixes.name,
            tuple((p, learner.origin(p) or "") for p in announced),
            tuple(learner.over_max(site.prefixes)),
            held,
            st.accepted,
            st.refused,
            st.last_refused,
            st.expired,
            st.unconfirmed,
        )

    def return_of(self, prefix: str) -> list[dict[str, Any]]:
        """For a cloud prefix: the egress its cloud(s) answer the site through, and why (empty without a site)."""
        entry = self._engine.rib.get(prefix)
        groups = {p.peer.group for p in entry.paths} if entry is not None else set()
        return return_of(self._engine.config, self._engine.return_plan, groups)

    def return_path(self) -> list[ReturnSession]:
        """The return path as decided (core/returnpath.py): per cloud session, the egress its cloud answers
        through, what the session carries against its limit, and what is left out with why."""
        plan = self._engine.return_plan
        out = []
        for peer in self._engine.config.cloud_peers:
            cloud = plan.clouds.get(peer.group)
            if cloud is None:
                continue
            routes = plan.routes.get(peer.address, {})
            out.append(
                ReturnSession(
                    peer.name,
                    peer.address,
                    cloud.name,
                    cloud.provider,
                    peer.egress,
                    cloud.preferred,
                    cloud.why,
                    cloud.split,
                    {prefix: (r.role, r.attrs.describe(), r.why) for prefix, r in routes.items()},
                    limit(peer),
                    tuple(plan.left_out.get(peer.address, ())),
                    cloud.asymmetric,
                )
            )
        return out

    def held_moves(self) -> list[Held]:
        """Class moves the move budget holds now (core/budget.py)."""
        b = self._engine.steering.budget
        return sorted(b.held.values(), key=lambda h: (h.app_class, h.egress)) if b is not None else []

    def relief_move(self, prefix: str) -> Move | None:
        """The relief move a prefix is under, if any."""
        r = self._engine.relief
        return r.moved.get(prefix) if r is not None else None

    def announced_routes(self) -> Iterator[tuple[str, int, Attrs]]:
        """(prefix, path id, attributes) of everything announced to the core: steered paths and next-hop routes."""
        return self._engine.announced_routes()

    def rejected(self, peer: str | None = None) -> Iterator[tuple[str, str, tuple[str, ...]]]:
        return self._engine.rejected(peer)

    # -- counters -----------------------------------------------------------------------

    def counters(self) -> Counters:
        e = self._engine
        s = e.stats
        return Counters(
            len(e.rib),
            s.routes_received,
            s.routes_withdrawn,
            s.announcements,
            s.withdrawals,
            s.decisions,
            s.decision_id,
            s.last_decision,
            sum(s.paths_by_path_id.values()),
            s.invalid_prefixes,
            s.unknown_peer_events,
            e.policy_errors,
            {k: (v[0], v[1]) for k, v in s.by_reason.items()},
        )
