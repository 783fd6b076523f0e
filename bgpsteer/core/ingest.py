"""What the engine learns from the cloud peers: routes, withdrawals, session changes, stored in the adj-RIB-in.

The first half of the engine (core/engine.py holds the decisions): ``handle`` records what a cloud peer sent and
marks the prefixes whose decision it may change; nothing here decides or announces.  A base class of ``Engine``:
the state it works on is created by the engine and declared here for the type checker.
"""

from __future__ import annotations

from bgpsteer.core.classify import Classifier
from bgpsteer.core.config import Config
from bgpsteer.core.decision import Path
from bgpsteer.core.dirty import Dirty
from bgpsteer.core.events import (
    Effect,
    EndOfRib,
    Event,
    Log,
    NotificationReceived,
    PeerState,
    RefreshMarker,
    RoutesAnnounced,
    RoutesWithdrawn,
    Teardown,
)
from bgpsteer.core.importer import ImportStage
from bgpsteer.core.model import Egress, MaxPrefix
from bgpsteer.core.policy import Verdict
from bgpsteer.core.rib import Entry, PeerInfo, Stats, check_prefix, path_of, store
from bgpsteer.core.sitelearn import SiteLearner

MAX_TRIGGERS = 8  # reasons kept per decision pass; the rest are counted


class Ingest:
    _config: Config
    _rib: dict[str, Entry]
    _dirty: Dirty
    _stats: Stats
    _peers: dict[str, PeerInfo]
    _egresses: dict[str, Egress]
    _importer: ImportStage
    _classifier: Classifier
    _generation: int
    _triggers: dict[str, str]
    _more_triggers: int
    _learner: SiteLearner | None

    def _trigger(self, kind: str, reason: str) -> None:
        if reason in self._triggers:
            return
        if len(self._triggers) < MAX_TRIGGERS:
            self._triggers[reason] = kind
        else:
            self._more_triggers += 1

    def handle(self, event: Event, now: float) -> list[Effect]:
        learner = self._learner
        if (
            learner is not None
            and not isinstance(event, NotificationReceived)  # logged below, as from any peer
            and event.peer not in self._peers
            and learner.learns_from(event.peer)
        ):
            return self._from_core(learner, event, now)
        if isinstance(event, RoutesAnnounced):
            return self._announced(event, now)
        if isinstance(event, RoutesWithdrawn):
            return self._withdrawn(event, now)
        if isinstance(event, PeerState):
            return self._peer_state(event, now)
        if isinstance(event, EndOfRib):
            info = self._peers.get(event.peer)
            if info is not None:
                info.eor.add(event.afi)
            return []
        if isinstance(event, RefreshMarker):
            return self._refresh_marker(event)
        if isinstance(event, NotificationReceived):
            return [
                Log(
                    "warning",
                    "notification received",
                    {"peer": event.peer, "code": event.code, "subcode": event.subcode, "text": event.message},
                )
            ]
        return []  # pragma: no cover - Event is a closed union

    def _from_core(self, learner: SiteLearner, event: Event, now: float) -> list[Effect]:
        """A core router's update, session change or table end: the site prefixes it teaches (core/sitelearn.py)."""
        name = learner.routers[event.peer]
        if isinstance(event, RoutesAnnounced):
            if learner.announced(event.peer, event.prefixes, event.attrs):
                self._trigger("site", f"site prefixes from core router {name}")
                return self._return_effects()
        elif isinstance(event, RoutesWithdrawn):
            if learner.withdrawn(event.peer, event.prefixes):
                self._trigger("site", f"site prefixes withdrawn by core router {name}")
                return self._return_effects()
        elif isinstance(event, PeerState) and event.state == "down":
            learner.session_down(event.peer, now)
            return [Log("warning", f"core router {name} down: its site prefixes held for {learner.learn.hold:g}s", {})]
        elif isinstance(event, EndOfRib) or (isinstance(event, RefreshMarker) and event.end):
            gone = learner.table_complete(event.peer)
            if gone:
                self._trigger("site", f"core router {name}'s table no longer holds {len(gone)} site prefixes")
                log = Log("info", f"site prefixes gone from core router {name}: {', '.join(gone[:8])}", {})
                return [log, *self._return_effects()]
        return []

    def _return_effects(self) -> list[Effect]:
        """What the clouds are to be sent now (the engine's return path, core/returnstate.py)."""
        return []

    def _refresh_marker(self, ev: RefreshMarker) -> list[Effect]:
        """Begin / end of a peer's re-advertisement (enhanced route refresh): the end says its table is complete."""
        info = self._peers.get(ev.peer)
        if info is None or info.relearn_from is None:
            return []  # only the answer to a refresh bgpsteer asked for counts
        if ev.end:
            info.refreshing.discard(ev.afi)
            info.refreshed.add(ev.afi)
        else:
            info.refreshing.add(ev.afi)
            info.refreshed.discard(ev.afi)
        return []

    def _unknown(self, peer: str, what: str) -> list[Effect]:
        self._stats.unknown_peer_events += 1
        return [Log("warning", f"{what} from a peer that is not a configured cloud peer; ignored", {"peer": peer})]

    def _announced(self, ev: RoutesAnnounced, now: float) -> list[Effect]:
        info = self._peers.get(ev.peer)
        if info is None:
            return self._unknown(ev.peer, "routes")
        peer = info.peer
        egress = self._egresses[peer.egress]
        limit = peer.max_prefix or self._config.safety.default_max_prefix
        effects: list[Effect] = []
        rib, dirty, evaluate = self._rib, self._dirty, self._importer.evaluate
        classes = self._classifier.prefix_classes
        attrs = ev.attrs
        self._stats.routes_received += len(ev.prefixes)
        info.last_heard = now
        self._trigger("update", f"update from {peer.name}")
        by_class: dict[int, Verdict] = {}
        invalid: list[str] = []  # the first reason, for one log line per UPDATE
        stored: list[str] = []
        gen = self._generation
        for prefix in ev.prefixes:
            entry = rib.get(prefix)
            existing = path_of(entry, peer) if entry is not None else None
            if existing is None and limit is not None and info.routes >= limit.limit:
                over = self._over_limit(info, limit, now, effects)
                if over == "teardown":
                    dirty.update(stored)
                    return effects
                if over == "refuse":
                    continue
            if entry is None or entry.gen != gen or entry.parsed[0] != ev.afi:
                entry = self._entry_for(prefix, ev.afi, entry, invalid)
                if entry is None:
                    continue
            kid = entry.prefix_class
            # one UPDATE shares peer and attributes: its verdict depends only on the prefix class
            verdict = by_class.get(kid)
            if verdict is None:
                verdict = evaluate(peer, egress, entry.parsed, kid, classes[kid], prefix, attrs)
                if not verdict.error:
                    by_class[kid] = verdict
            store(info, entry, existing, attrs, verdict)
            stored.append(prefix)
        dirty.update(stored)  # once per UPDATE: a call per route costs more than the loop
        if invalid:
            effects.append(Log("warning", f"routes with an invalid prefix skipped: {invalid[0]}", {"peer": peer.name}))
        return effects

    def _over_limit(self, info: PeerInfo, limit: MaxPrefix, now: float, effects: list[Effect]) -> str:
        """A new route from a peer at its max-prefix: 'store' (warn), 'refuse' (stop) or 'teardown' (session closed)."""
        peer = info.peer
        if not info.max_prefix_hit:
            info.max_prefix_hit = True
            effects.append(
                Log("warning", f"max-prefix {limit.limit} reached; action {limit.action}", {"peer": peer.name})
            )
            if limit.action == "teardown":
                effects.append(Teardown(peer.address, f"max-prefix {limit.limit} exceeded"))
                effects.extend(self._flush_peer(info, now, f"max-prefix {limit.limit} exceeded"))
                return "teardown"
        if limit.action == "stop":
            info.refused += 1
            return "refuse"
        return "store"

    def _entry_for(self, prefix: str, afi: int, entry: Entry | None, invalid: list[str]) -> Entry | None:
        """The RIB entry a route of this family is stored in: created (its prefix checked and classified once), or
        re-imported when a reload has not reached it yet; None (counted, the first reason kept) for an invalid
        prefix."""
        if entry is None:
            parsed = check_prefix(prefix, afi)
            if isinstance(parsed, str):
                self._stats.invalid_prefixes += 1
                if not invalid:
                    invalid.append(parsed)
                return None
            entry = self._rib[prefix] = Entry(parsed, self._classifier.classify(parsed), self._generation)
        elif entry.gen != self._generation:
            self._reimport(prefix, entry)  # still under the previous configuration (reload in progress)
        if entry.parsed[0] != afi:
            self._stats.invalid_prefixes += 1
            if not invalid:
                invalid.append(f"ipv{entry.parsed[0]} prefix {prefix!r} in an ipv{afi} UPDATE")
            return None
        return entry

    def _withdrawn(self, ev: RoutesWithdrawn, now: float) -> list[Effect]:
        info = self._peers.get(ev.peer)
        if info is None:
            return self._unknown(ev.peer, "withdrawals")
        info.last_heard = now
        peer = info.peer
        self._stats.routes_withdrawn += len(ev.prefixes)
        self._trigger("withdraw", f"withdraw from {peer.name}")
        for prefix in ev.prefixes:
            entry = self._rib.get(prefix)
            if entry is None:
                continue
            if entry.gen != self._generation:
                self._reimport(prefix, entry)
            for i, p in enumerate(entry.paths):
                if p.peer is peer:
                    del entry.paths[i]
                    info.routes -= 1
                    info.accepted -= p.verdict.accepted
                    self._dirty.add(prefix)
                    break
        return []

    def _peer_state(self, ev: PeerState, now: float) -> list[Effect]:
        info = self._peers.get(ev.peer)
        if info is None:
            return []  # core routers' state changes are not ours to track here
        previous, info.state = info.state, ev.state
        info.last_change, info.last_reason, info.state_known = now, ev.reason, True
        if ev.state == "up" and previous != "up" and ev.changed:
            self._relearn(info, now)  # a session that comes up sends its whole table
        effects: list[Effect] = [
            Log(
                "info", f"peer {info.peer.name} {previous} -> {ev.state}", {"peer": info.peer.name, "reason": ev.reason}
            )
        ]
        if ev.state == "down":
            effects.extend(self._flush_peer(info, now, ev.reason or "session down"))
        return effects

    def _flush_peer(self, info: PeerInfo, now: float, reason: str) -> list[Effect]:
        """A session went down: forget everything it taught us."""
        peer = info.peer
        self._trigger("peer_down", f"peer {peer.name} down: {reason}")
        if info.routes:
            address = peer.address  # by address: entries not yet re-imported after a reload hold the old peer object
            for prefix, entry in self._rib.items():
                before = len(entry.paths)
                entry.paths = [p for p in entry.paths if p.peer.address != address]
                if len(entry.paths) != before:
                    self._dirty.add(prefix)
        count = info.routes
        info.routes = info.accepted = 0
        info.eor.clear()
        info.refreshing.clear()
        info.max_prefix_hit = False
        return (
            [Log("info", f"flushed {count} routes of peer {peer.name}", {"peer": peer.name, "reason": reason})]
            if count
            else []
        )

    def _reimport(self, prefix: str, entry: Entry) -> None:
        """Re-evaluate an entry's paths under the current configuration (after a reload)."""
        entry.gen = self._generation
        entry.prefix_class = kid = self._classifier.classify(entry.parsed)  # the new policies' view of the prefix
        pc = self._classifier.prefix_classes[kid]
        kept = []
        for p in entry.paths:
            info = self._peers.get(p.peer.address)
            if info is None:  # the peer was removed by the reload
                continue
            peer = info.peer
            v = self._importer.evaluate(peer, self._egresses[peer.egress], entry.parsed, kid, pc, prefix, p.attrs)
            info.accepted += v.accepted - p.verdict.accepted
            kept.append(Path(peer, p.attrs, v))
        entry.paths = kept

    def relearning(self, address: str, now: float) -> None:
        """A route refresh went to this peer: what it sends from now on is its table."""
        info = self._peers.get(address)
        if info is not None:
            self._relearn(info, now)

    @staticmethod
    def _relearn(info: PeerInfo, now: float) -> None:
        info.relearn_from = now
        info.refreshing.clear()
        info.refreshed.clear()
