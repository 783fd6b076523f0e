"""Prometheus metrics: read from the agent's state at scrape time, served on the agent's loop.

Gauges are computed when Prometheus scrapes (a custom collector), so steering
pays nothing per route; only decision duration, pipe lag and failover events
are recorded as they happen.  Labels are bounded: egress, peer, state, reason
kind, result; never a prefix.  The listener runs on the agent's own event loop
(not prometheus_client's thread), so a scrape never races the engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from bgpsteer.core.events import Changed, EgressChanged

if TYPE_CHECKING:
    from bgpsteer.runtime.agent import Agent

HEALTH_STATES = ("up", "down", "recovering")
PEER_STATES = ("idle", "connected", "up", "down")


class _State(Collector):
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | InfoMetricFamily]:
        a = self.agent
        e = a.engine
        now = a.clock()
        lat = GaugeMetricFamily("bgpsteer_egress_latency_seconds", "Smoothed probe round-trip time (median over targets)", labels=["egress"])
        jit = GaugeMetricFamily("bgpsteer_egress_jitter_seconds", "Probe jitter, RFC 3550 (median over targets)", labels=["egress"])
        loss = GaugeMetricFamily("bgpsteer_egress_loss_ratio", "Probe loss over the sliding window (median over targets)", labels=["egress"])
        health = GaugeMetricFamily("bgpsteer_egress_health_state", "1 for the egress's current health state", labels=["egress", "state"])
        service = GaugeMetricFamily("bgpsteer_egress_in_service", "1 when the egress's next-hop route is announced", labels=["egress"])
        drained = GaugeMetricFamily("bgpsteer_egress_drained", "1 when the egress is drained (RFC 8326)", labels=["egress"])
        penalty = GaugeMetricFamily("bgpsteer_egress_dampening_penalty", "Current flap dampening penalty", labels=["egress"])
        paths = GaugeMetricFamily("bgpsteer_egress_paths", "Paths announced to core routers through the egress", labels=["egress"])
        for x in e.config.egresses:
            s = e.steering.stats[x.id].summary()
            if s["latency_ms"] is not None:
                lat.add_metric([x.id], s["latency_ms"] / 1000)
            if s["jitter_ms"] is not None:
                jit.add_metric([x.id], s["jitter_ms"] / 1000)
            if s["loss_pct"] is not None:
                loss.add_metric([x.id], s["loss_pct"] / 100)
            h = e.steering.health[x.id]
            for st in HEALTH_STATES:
                health.add_metric([x.id, st], 1.0 if h.state == st else 0.0)
            service.add_metric([x.id], 1.0 if e.steering.usable(x.id) else 0.0)
            drained.add_metric([x.id], 1.0 if x.id in e.steering.drained else 0.0)
            penalty.add_metric([x.id], h.current_penalty(now))
            paths.add_metric([x.id], e.stats.paths_by_path_id.get(x.path_id, 0))
        yield from (lat, jit, loss, health, service, drained, penalty, paths)
        cls = GaugeMetricFamily("bgpsteer_class_egress_in_service", "1 when the egress is in service for the class's sessions (healthy and within its SLA)",
                                labels=["class", "egress"])
        fit = GaugeMetricFamily("bgpsteer_class_egress_sla_fit", "1 when the egress's measurements fit the class's SLA", labels=["class", "egress"])
        if e.steering.classes is not None:
            for cname in e.steering.classes.classes:
                for x in e.config.egresses:
                    cls.add_metric([cname, x.id], 1.0 if e.steering.usable(x.id, cname) else 0.0)
                    fit.add_metric([cname, x.id], 1.0 if e.steering.classes.fits(cname, x.id) else 0.0)
        yield from (cls, fit)
        yield GaugeMetricFamily("bgpsteer_fail_static", "1 while fail static holds the last good state", value=1.0 if e.steering.fail_static else 0.0)
        routes = GaugeMetricFamily("bgpsteer_peer_routes", "Candidate paths held from the cloud peer", labels=["peer", "egress"])
        accepted = GaugeMetricFamily("bgpsteer_peer_routes_accepted", "Paths from the cloud peer accepted by import", labels=["peer", "egress"])
        up = GaugeMetricFamily("bgpsteer_peer_up", "1 when the BGP session is up", labels=["peer", "role"])
        for i in e.peers.values():
            routes.add_metric([i.peer.name, i.peer.egress], i.routes)
            accepted.add_metric([i.peer.name, i.peer.egress], i.accepted)
            up.add_metric([i.peer.name, "cloud"], 1.0 if i.state == "up" else 0.0)
        for c in e.config.core_routers:
            up.add_metric([c.name, "core"], 1.0 if a.core_state.get(c.address) == "up" else 0.0)
        yield from (routes, accepted, up)
        yield GaugeMetricFamily("bgpsteer_prefixes", "Prefixes in the RIB", value=len(e.rib))
        by = CounterMetricFamily("bgpsteer_route_changes", "Paths announced or withdrawn to core routers, by trigger", labels=["action", "reason"])
        for kind, (ann, wd) in sorted(e.stats.by_reason.items()):
            by.add_metric(["announce", kind], ann)
            by.add_metric(["withdraw", kind], wd)
        yield by
        yield CounterMetricFamily("bgpsteer_routes_received", "Routes received from cloud peers", value=e.stats.routes_received)
        yield CounterMetricFamily("bgpsteer_exabgp_malformed_lines", "Lines from ExaBGP skipped as malformed", value=a.malformed)
        yield CounterMetricFamily("bgpsteer_exabgp_commands", "Commands sent to ExaBGP", value=a.commands_sent)
        acks = CounterMetricFamily("bgpsteer_exabgp_acks", "ExaBGP acknowledgements", labels=["result"])
        acks.add_metric(["done"], a.acks_ok)
        acks.add_metric(["error"], a.acks_error)
        yield acks
        yield CounterMetricFamily("bgpsteer_policy_errors", "Routes rejected by a policy runtime error (fail closed)",
                                  value=e.importer.errors + e.exporter.errors)
        yield CounterMetricFamily("bgpsteer_config_load_errors", "Reloads refused because the new config had errors", value=a.reload_failures)
        yield GaugeMetricFamily("bgpsteer_last_decision_timestamp_seconds", "Time of the last decision pass", value=e.stats.last_decision)
        yield CounterMetricFamily("bgpsteer_journal_write_errors", "Journal records lost to write errors",
                                  value=a.journal.errors if a.journal else 0)
        ledger = a.ledger
        yield GaugeMetricFamily("bgpsteer_exabgp_rejected_paths", "Paths ExaBGP refused even alone (never on the core)", value=len(ledger.rejected))
        yield GaugeMetricFamily("bgpsteer_exabgp_unconfirmed_paths", "Paths whose command ExaBGP never answered", value=len(ledger.unconfirmed))
        yield GaugeMetricFamily("bgpsteer_exabgp_awaiting_ack_routes", "Prefixes in commands ExaBGP has not acknowledged yet",
                                value=ledger.outstanding_routes)
        yield GaugeMetricFamily("bgpsteer_exabgp_output_buffer_bytes", "Commands written but not yet taken by ExaBGP's pipe", value=a.output_buffer())
        yield GaugeMetricFamily("bgpsteer_event_loop_lag_max_seconds", "Longest time the event loop (and so the reading of ExaBGP's pipe) was held",
                                value=a.loop_lag_max)
        yield CounterMetricFamily("bgpsteer_event_loop_stalls", "Times the event loop was held longer than 100 ms", value=a.loop_stalls)
        anomalies = CounterMetricFamily("bgpsteer_exabgp_ack_anomalies", "Acks that never came (timeout), came for nothing, or were for a previous helper process's commands",
                                       labels=["kind"])
        anomalies.add_metric(["missing"], ledger.missing_acks)
        anomalies.add_metric(["extra"], ledger.extra_acks)
        anomalies.add_metric(["previous_helper"], a.previous_acks)
        yield anomalies
        yield CounterMetricFamily("bgpsteer_deferred_decisions", "Decision passes put off while ExaBGP caught up (their changes coalesced)",
                                  value=a.deferred_flushes)
        yield CounterMetricFamily("bgpsteer_invalid_prefixes", "Routes skipped for a prefix that is not canonical or not of its UPDATE's family",
                                  value=e.stats.invalid_prefixes)
        entries = GaugeMetricFamily("bgpsteer_cache_entries", "Entries in a bounded cache (at most bgpsteer_cache_bound)", labels=["cache"])
        bound = GaugeMetricFamily("bgpsteer_cache_bound", "The most entries a cache may hold", labels=["cache"])
        rotations = CounterMetricFamily("bgpsteer_cache_rotations", "Generations dropped from a cache: often means its bound is small for the churn",
                                        labels=["cache"])
        for name, cache in a.caches().items():
            entries.add_metric([name], len(cache))
            bound.add_metric([name], cache.bound)
            rotations.add_metric([name], cache.rotations)
        yield from (entries, bound, rotations)
        yield InfoMetricFamily("bgpsteer_config", "The running configuration", value={"digest": e.config.digest, "file": e.config.source})


class Metrics:
    def __init__(self, agent: Agent) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_State(agent))
        self._decision = Histogram("bgpsteer_decision_duration_seconds", "Time of one decision pass (flush)", registry=self.registry,
                                   buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))
        self._lag = Histogram("bgpsteer_exabgp_lag_seconds", "From ExaBGP writing a message to bgpsteer handling it", registry=self.registry,
                              buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30))
        self._failover = Counter("bgpsteer_failover_events", "Egresses taken out of or put back into service", ["egress", "direction"],
                                 registry=self.registry)
        self.server: asyncio.AbstractServer | None = None

    def decision(self, seconds: float) -> None:
        self._decision.observe(seconds)

    def lag(self, seconds: float) -> None:
        self._lag.observe(max(0.0, seconds))

    def record(self, effect: Changed | EgressChanged) -> None:
        if isinstance(effect, EgressChanged) and effect.old != effect.new and effect.new in ("down", "up"):
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
            writer.write(b"HTTP/1.0 " + status + b"\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                         + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()
