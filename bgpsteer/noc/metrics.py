"""Prometheus metrics: read from the agent's state at scrape time, served on the agent's loop.

Gauges are computed when Prometheus scrapes (a custom collector), so steering
pays nothing per route; only decision duration, pipe lag and failover events
are recorded as they happen.  Labels are bounded: egress, peer, state, reason
kind, result; never a prefix.  The listener runs on the agent's own event loop
(not prometheus_client's thread), so a scrape never races the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from bgpsteer.core.bounded import BoundedCache
from bgpsteer.core.drift import KINDS
from bgpsteer.core.events import Changed, EgressChanged
from bgpsteer.core.model import CoreRouter
from bgpsteer.core.view import EgressView, PeerView, ReturnSession, SiteLearning
from bgpsteer.core.viewtypes import EgressLoad
from bgpsteer.flows.collector import CollectorState
from bgpsteer.noc.port import AgentPort, CoreDrift, CounterState

HEALTH_STATES = ("up", "down", "recovering")
TUNNEL_STATES = ("up", "down", "unknown")
PEER_STATES = ("idle", "connected", "up", "down")


class _State(Collector):
    def __init__(self, agent: AgentPort) -> None:
        self.agent = agent

    @staticmethod
    def _return_path(sessions: list[ReturnSession]) -> Iterator[GaugeMetricFamily]:
        """Per cloud session: site routes announced and its limit; whether its cloud answers through its egress."""
        routes = GaugeMetricFamily(
            "bgpsteer_return_routes", "Site routes announced to a cloud session (the return path)", labels=["peer"]
        )
        cap = GaugeMetricFamily(
            "bgpsteer_return_route_limit",
            "Most routes a cloud session takes (its provider's, or max_routes)",
            labels=["peer"],
        )
        via = GaugeMetricFamily(
            "bgpsteer_return_preferred",
            "1: the cloud is told to answer through this session's egress",
            labels=["peer", "cloud", "egress"],
        )
        asym = GaugeMetricFamily(
            "bgpsteer_return_asymmetric_prefixes",
            "Site prefixes a cloud does not answer through its outbound egress (by its provider's order)",
            labels=["cloud"],
        )
        for cloud, n in {r.cloud: len(r.asymmetric) for r in sessions}.items():
            asym.add_metric([cloud], n)
        yield asym
        for r in sessions:
            routes.add_metric([r.peer], len(r.routes))
            if r.limit is not None:
                cap.add_metric([r.peer], r.limit)
            via.add_metric([r.peer, r.cloud, r.egress], 1.0 if r.preferred == r.egress else 0.0)
        yield routes
        yield cap
        yield via

    @staticmethod
    def _site_learning(s: SiteLearning | None) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The site's prefixes learned from the core routers (nothing without ``site.learn``)."""
        if s is None:
            return
        learned = GaugeMetricFamily(
            "bgpsteer_site_learned_prefixes",
            "Site prefixes learned from the core routers, by state (announced: to the clouds; held: announced, its "
            "core session down or restored and not yet announced again; over_max: left out by learn.max)",
            labels=["state"],
        )
        learned.add_metric(["announced"], len(s.announced))
        learned.add_metric(["held"], s.held)
        learned.add_metric(["over_max"], len(s.over_max))
        yield learned
        yield CounterMetricFamily(
            "bgpsteer_site_learn_refused", "Core routes the site.learn filter refused", value=s.refused
        )

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        a = self.agent
        view, now = a.view, a.clock()
        egress_views = view.egresses(now)
        yield from self._egresses(egress_views)
        yield from self._tunnels(egress_views)
        yield from self._drift(a.core_drift(), view.config.core_routers)
        yield GaugeMetricFamily(
            "bgpsteer_fail_static",
            "1 while fail static holds the last good state",
            value=1.0 if view.fail_static else 0.0,
        )
        yield from self._peers(view.peers(), a)
        usable = GaugeMetricFamily(
            "bgpsteer_compliance_usable_egresses",
            "Egresses in service inside a compliance rule's jurisdictions (0: its prefixes have no usable path)",
            labels=["rule"],
        )
        for rule, egresses in view.compliance_usable().items():
            usable.add_metric([rule], len(egresses))
        yield usable
        yield from self._load(view.load(now))
        yield from self._counters(self.agent.counters())
        yield from self._flows(self.agent.flow_collector(), now)
        yield GaugeMetricFamily(
            "bgpsteer_moves_held", "Class moves the move budget holds now", value=len(view.held_moves())
        )
        yield from self._return_path(view.return_path())
        yield from self._site_learning(view.site_learning())
        c, pipe = view.counters(), a.pipe()
        yield GaugeMetricFamily("bgpsteer_prefixes", "Prefixes in the RIB", value=c.prefixes)
        by = CounterMetricFamily(
            "bgpsteer_route_changes",
            "Paths announced or withdrawn to core routers, by trigger",
            labels=["action", "reason"],
        )
        for kind, (ann, wd) in sorted(c.by_reason.items()):
            by.add_metric(["announce", kind], ann)
            by.add_metric(["withdraw", kind], wd)
        yield by
        yield CounterMetricFamily(
            "bgpsteer_routes_received", "Routes received from cloud peers", value=c.routes_received
        )
        yield CounterMetricFamily(
            "bgpsteer_exabgp_malformed_lines", "Lines from ExaBGP skipped as malformed", value=pipe.malformed_lines
        )
        yield CounterMetricFamily("bgpsteer_exabgp_commands", "Commands sent to ExaBGP", value=pipe.commands_sent)
        acks = CounterMetricFamily("bgpsteer_exabgp_acks", "ExaBGP acknowledgements", labels=["result"])
        acks.add_metric(["done"], pipe.acks_ok)
        acks.add_metric(["error"], pipe.acks_error)
        yield acks
        yield CounterMetricFamily(
            "bgpsteer_policy_errors", "Routes rejected by a policy runtime error (fail closed)", value=c.policy_errors
        )
        yield CounterMetricFamily(
            "bgpsteer_config_load_errors",
            "Reloads refused because the new config had errors",
            value=pipe.reload_failures,
        )
        yield GaugeMetricFamily(
            "bgpsteer_last_decision_timestamp_seconds", "Time of the last decision pass", value=c.last_decision
        )
        yield CounterMetricFamily(
            "bgpsteer_journal_write_errors", "Journal records lost to write errors", value=pipe.journal_write_errors
        )
        yield CounterMetricFamily(
            "bgpsteer_recorder_write_errors",
            "Flight recorder records lost to write errors",
            value=pipe.recorder_write_errors,
        )
        yield GaugeMetricFamily(
            "bgpsteer_exabgp_rejected_paths",
            "Paths ExaBGP refused even alone (never on the core)",
            value=pipe.rejected_paths,
        )
        yield GaugeMetricFamily(
            "bgpsteer_exabgp_unconfirmed_paths",
            "Paths whose command ExaBGP never answered",
            value=pipe.unconfirmed_paths,
        )
        yield GaugeMetricFamily(
            "bgpsteer_exabgp_awaiting_ack_routes",
            "Prefixes in commands ExaBGP has not acknowledged yet",
            value=pipe.awaiting_ack_routes,
        )
        yield GaugeMetricFamily(
            "bgpsteer_exabgp_output_buffer_bytes",
            "Commands written but not yet taken by ExaBGP's pipe",
            value=pipe.output_buffer_bytes,
        )
        yield GaugeMetricFamily(
            "bgpsteer_event_loop_lag_max_seconds",
            "Longest time the event loop (and so the reading of ExaBGP's pipe) was held",
            value=pipe.loop_lag_max_seconds,
        )
        yield CounterMetricFamily(
            "bgpsteer_event_loop_stalls", "Times the event loop was held longer than 100 ms", value=pipe.loop_stalls
        )
        anomalies = CounterMetricFamily(
            "bgpsteer_exabgp_ack_anomalies",
            "Acks that never came (timeout), came for nothing, or were for a previous helper process's commands",
            labels=["kind"],
        )
        anomalies.add_metric(["missing"], pipe.missing_acks)
        anomalies.add_metric(["extra"], pipe.extra_acks)
        anomalies.add_metric(["previous_helper"], pipe.previous_helper_acks)
        yield anomalies
        yield CounterMetricFamily(
            "bgpsteer_deferred_decisions",
            "Decision passes put off while ExaBGP caught up (their changes coalesced)",
            value=pipe.deferred_decisions,
        )
        yield CounterMetricFamily(
            "bgpsteer_invalid_prefixes",
            "Routes skipped for a prefix that is not canonical or not of its UPDATE's family",
            value=c.invalid_prefixes,
        )
        yield from self._caches(a.caches())
        rt = a.runtime()
        md5 = CounterMetricFamily(
            "bgpsteer_tcp_md5_drops",
            "TCP segments the kernel dropped in the agent's namespace for a TCP-MD5 signature: failure means a "
            "password "
            "mismatch with a peer (neither FRR nor the kernel logs it)",
            labels=["kind"],
        )
        for kind, n in sorted(rt.tcp_md5.items()):
            md5.add_metric([kind], n)
        yield md5
        yield GaugeMetricFamily(
            "bgpsteer_table_complete",
            "1 once the whole table is announced after start (End-of-RIB sent)",
            value=1.0 if rt.table_complete_after is not None else 0.0,
        )
        yield InfoMetricFamily(
            "bgpsteer_config",
            "The running configuration",
            value={"digest": view.config.digest, "file": view.config.source},
        )

    @staticmethod
    def _load(loads: Iterable[EgressLoad]) -> Iterator[GaugeMetricFamily]:
        """Relief's view of each egress with a capacity: its load, where the number came from, what moved off."""
        load = GaugeMetricFamily(
            "bgpsteer_egress_load_ratio", "Projected utilization / capacity_mbps (steering.relief)", labels=["egress"]
        )
        moved = GaugeMetricFamily(
            "bgpsteer_relief_moved_prefixes", "Prefixes relief has moved off the egress", labels=["egress"]
        )
        mbps = GaugeMetricFamily(
            "bgpsteer_egress_utilization_mbps",
            "Utilization relief uses, Mbit/s, by where it came from (counter, pushed); absent when unknown or stale",
            labels=["egress", "source"],
        )
        for el in loads:
            if el.load_pct is not None:
                load.add_metric([el.egress], el.load_pct / 100)
            if el.mbps is not None:
                mbps.add_metric([el.egress, el.source or "pushed"], el.mbps)
            moved.add_metric([el.egress], el.moved_off)
        yield from (load, mbps, moved)

    @staticmethod
    def _flows(s: CollectorState | None, now: float) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """The flow collector (steering.relief.flows): per exporter what came and how long ago, and what it dropped."""
        if s is None:
            return
        datagrams = CounterMetricFamily(
            "bgpsteer_flow_datagrams", "Flow export datagrams read, per listed exporter", labels=["exporter"]
        )
        records = CounterMetricFamily(
            "bgpsteer_flow_records", "Flow records decoded, per exporter", labels=["exporter"]
        )
        age = GaugeMetricFamily(
            "bgpsteer_flow_exporter_age_seconds",
            "Seconds since the exporter's last datagram (absent: nothing came yet)",
            labels=["exporter"],
        )
        for e in sorted(s.exporters.values(), key=lambda e: e.address):
            datagrams.add_metric([e.address], float(e.datagrams))
            records.add_metric([e.address], float(e.flows))
            if e.last_at is not None:
                age.add_metric([e.address], max(0.0, now - e.last_at))
        dropped = CounterMetricFamily(
            "bgpsteer_flow_dropped",
            "Flow export dropped, by reason (datagrams; sets for malformed and no_template)",
            labels=["reason"],
        )
        for reason, n in (
            ("unlisted_exporter", s.unlisted),
            ("queue_full", s.flooded),
            ("socket_full", s.socket_dropped),
            ("malformed", s.decoder.malformed),
            ("no_template", s.decoder.expired),
        ):
            dropped.add_metric([reason], float(n))
        volume = GaugeMetricFamily(
            "bgpsteer_flow_volume_mbps", "Sum of the per-prefix volumes in the collector's last report (Mbit/s)"
        )
        if s.total_mbps is not None:
            volume.add_metric([], s.total_mbps)
        yield from (datagrams, records, age, dropped, volume)

    @staticmethod
    def _counters(states: Mapping[str, CounterState]) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Each interface counter reader (egresses[].utilization): whether it gives a rate now, and its troubles."""
        rate = GaugeMetricFamily(
            "bgpsteer_utilization_counter_rate",
            "1 while the egress's interface counter gives a rate, 0 while it is unknown (unreachable, reset, first)",
            labels=["egress"],
        )
        failures = CounterMetricFamily(
            "bgpsteer_utilization_counter_failures", "Counter readings that failed", labels=["egress"]
        )
        resets = CounterMetricFamily(
            "bgpsteer_utilization_counter_resets", "Counter resets seen (reboot, device made again)", labels=["egress"]
        )
        for egress, s in sorted(states.items()):
            rate.add_metric([egress], 0.0 if s.mbps is None else 1.0)
            failures.add_metric([egress], float(s.failures))
            resets.add_metric([egress], float(s.resets))
        yield from (rate, failures, resets)

    @staticmethod
    def _drift(states: Mapping[tuple[str, str], CoreDrift], cores: Iterable[CoreRouter]) -> Iterator[GaugeMetricFamily]:
        drift = GaugeMetricFamily(
            "bgpsteer_core_drift_prefixes",
            "Prefixes a monitored core router holds or uses otherwise than intended, past the window, by kind and "
            "by the source that read it (cli, bmp)",
            labels=["core", "source", "kind"],
        )
        readable = GaugeMetricFamily(
            "bgpsteer_core_readable",
            "1 when the last reading of a monitored core router's table (by source: cli, bmp) worked",
            labels=["core", "source"],
        )
        for c in cores:
            if c.monitor is None:
                continue
            for source in c.monitor.sources:
                s = states.get((c.name, source))
                ok = s is not None and s.read_at is not None and not s.error
                readable.add_metric([c.name, source], 1.0 if ok else 0.0)
                for kind in KINDS:
                    n = len({d.prefix for d in s.drift if d.kind == kind}) if s is not None else 0
                    drift.add_metric([c.name, source, kind], float(n))
        yield from (drift, readable)

    @staticmethod
    def _tunnels(egresses: list[EgressView]) -> Iterator[GaugeMetricFamily]:
        tunnel = GaugeMetricFamily(
            "bgpsteer_egress_tunnel_state",
            "1 for the egress's tunnel's current state (up, down, unknown); absent without a tunnel",
            labels=["egress", "kind", "state"],
        )
        handshake = GaugeMetricFamily(
            "bgpsteer_egress_tunnel_handshake_age_seconds",
            "Seconds since the tunnel's latest handshake (WireGuard; for IPsec, its last rekey)",
            labels=["egress"],
        )
        key_old = GaugeMetricFamily(
            "bgpsteer_egress_tunnel_key_too_old",
            "1 when the tunnel's latest handshake (key rotation) is older than its key_max_age",
            labels=["egress"],
        )
        for e in egresses:
            if e.tunnel is not None:
                for st in TUNNEL_STATES:
                    tunnel.add_metric([e.id, str(e.tunnel["kind"]), st], 1.0 if e.tunnel["status"] == st else 0.0)
                age = e.tunnel["handshake_age"]
                if isinstance(age, (int, float)):
                    handshake.add_metric([e.id], float(age))
                if e.egress.tunnel is not None and e.egress.tunnel.key_max_age is not None:
                    key_old.add_metric([e.id], 1.0 if e.tunnel["key_too_old"] else 0.0)
        yield from (tunnel, handshake, key_old)

    @staticmethod
    def _egresses(egresses: list[EgressView]) -> Iterator[GaugeMetricFamily]:
        lat = GaugeMetricFamily(
            "bgpsteer_egress_latency_seconds", "Smoothed probe round-trip time (median over targets)", labels=["egress"]
        )
        jit = GaugeMetricFamily(
            "bgpsteer_egress_jitter_seconds", "Probe jitter, RFC 3550 (median over targets)", labels=["egress"]
        )
        loss = GaugeMetricFamily(
            "bgpsteer_egress_loss_ratio", "Probe loss over the sliding window (median over targets)", labels=["egress"]
        )
        health = GaugeMetricFamily(
            "bgpsteer_egress_health_state", "1 for the egress's current health state", labels=["egress", "state"]
        )
        service = GaugeMetricFamily(
            "bgpsteer_egress_in_service", "1 when the egress's next-hop route is announced", labels=["egress"]
        )
        drained = GaugeMetricFamily(
            "bgpsteer_egress_drained", "1 when the egress is drained (RFC 8326)", labels=["egress"]
        )
        penalty = GaugeMetricFamily(
            "bgpsteer_egress_dampening_penalty", "Current flap dampening penalty", labels=["egress"]
        )
        paths = GaugeMetricFamily(
            "bgpsteer_egress_paths", "Paths announced to core routers through the egress", labels=["egress"]
        )
        cls = GaugeMetricFamily(
            "bgpsteer_class_egress_in_service",
            "1 when the egress is in service for the class's sessions (healthy and within its SLA)",
            labels=["class", "egress"],
        )
        fit = GaugeMetricFamily(
            "bgpsteer_class_egress_sla_fit",
            "1 when the egress's measurements fit the class's SLA",
            labels=["class", "egress"],
        )
        for e in egresses:
            m = e.measured
            if m["latency_ms"] is not None:
                lat.add_metric([e.id], m["latency_ms"] / 1000)
            if m["jitter_ms"] is not None:
                jit.add_metric([e.id], m["jitter_ms"] / 1000)
            if m["loss_pct"] is not None:
                loss.add_metric([e.id], m["loss_pct"] / 100)
            for st in HEALTH_STATES:
                health.add_metric([e.id, st], 1.0 if e.health == st else 0.0)
            service.add_metric([e.id], 1.0 if e.in_service else 0.0)
            drained.add_metric([e.id], 1.0 if e.drained else 0.0)
            penalty.add_metric([e.id], e.penalty)
            paths.add_metric([e.id], e.paths)
            for c in e.classes:
                cls.add_metric([c.app_class, e.id], 1.0 if c.in_service else 0.0)
                fit.add_metric([c.app_class, e.id], 1.0 if c.fits_sla else 0.0)
        yield from (lat, jit, loss, health, service, drained, penalty, paths, cls, fit)

    @staticmethod
    def _peers(peers: list[PeerView], a: AgentPort) -> Iterator[GaugeMetricFamily]:
        routes = GaugeMetricFamily(
            "bgpsteer_peer_routes", "Candidate paths held from the cloud peer", labels=["peer", "egress"]
        )
        accepted = GaugeMetricFamily(
            "bgpsteer_peer_routes_accepted", "Paths from the cloud peer accepted by import", labels=["peer", "egress"]
        )
        up = GaugeMetricFamily("bgpsteer_peer_up", "1 when the BGP session is up", labels=["peer", "role"])
        for p in peers:
            routes.add_metric([p.name, p.egress], p.routes)
            accepted.add_metric([p.name, p.egress], p.accepted)
            up.add_metric([p.name, "cloud"], 1.0 if p.state == "up" else 0.0)
        sessions = a.core_sessions()
        for c in a.view.config.core_routers:
            up.add_metric([c.name, "core"], 1.0 if sessions.get(c.address) == "up" else 0.0)
        yield from (routes, accepted, up)

    @staticmethod
    def _caches(caches: dict[str, BoundedCache[Any, Any]]) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        entries = GaugeMetricFamily(
            "bgpsteer_cache_entries", "Entries in a bounded cache (at most bgpsteer_cache_bound)", labels=["cache"]
        )
        bound = GaugeMetricFamily("bgpsteer_cache_bound", "The most entries a cache may hold", labels=["cache"])
        rotations = CounterMetricFamily(
            "bgpsteer_cache_rotations",
            "Generations dropped from a cache: often means its bound is small for the churn",
            labels=["cache"],
        )
        for name, cache in caches.items():
            entries.add_metric([name], len(cache))
            bound.add_metric([name], cache.bound)
            rotations.add_metric([name], cache.rotations)
        yield from (entries, bound, rotations)


class Metrics:
    def __init__(self, agent: AgentPort) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_State(agent))
        self._decision = Histogram(
            "bgpsteer_decision_duration_seconds",
            "Time of one decision pass (flush)",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
        )
        self._lag = Histogram(
            "bgpsteer_exabgp_lag_seconds",
            "From ExaBGP writing a message to bgpsteer handling it",
            registry=self.registry,
            buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
        )
        self._failover = Counter(
            "bgpsteer_failover_events",
            "Egresses taken out of or put back into service",
            ["egress", "direction"],
            registry=self.registry,
        )
        self.server: asyncio.AbstractServer | None = None

    def decision(self, seconds: float) -> None:
        self._decision.observe(seconds)

    def lag(self, seconds: float) -> None:
        self._lag.observe(max(0.0, seconds))

    def record(self, effect: Changed | EgressChanged) -> None:
        if (
            isinstance(effect, EgressChanged)
            and effect.app_class is None
            and effect.old != effect.new
            and effect.new in ("down", "up")
        ):
            self._failover.labels(effect.egress, "out" if effect.new == "down" else "in").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    async def serve(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self.server = await asyncio.start_server(self._client, host.strip("[]"), int(port))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)).strip():
                pass  # headers
            if request.split()[1:2] == [b"/metrics"]:
                body, status = self.render(), b"200 OK"
            else:
                body, status = b"bgpsteer: metrics are at /metrics\n", b"404 Not Found"
            writer.write(
                b"HTTP/1.0 "
                + status
                + b"\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                + b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()
