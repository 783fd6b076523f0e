"""The running agent's side of the NOC's port (noc/port.py AgentPort): what the control socket, the metrics and
the state dump read, and the few operations they may do (a part of the running agent, runtime/agent.py)."""

from __future__ import annotations

import os
from typing import Any

from bgpsteer.core.bounded import BoundedCache
from bgpsteer.core.inputs import DrainChange, LoadReport
from bgpsteer.core.measure import Sample
from bgpsteer.core.view import CoreView
from bgpsteer.flows.collector import CollectorState
from bgpsteer.noc.port import CoreDrift, CounterState, PipeCounters, RuntimeInfo
from bgpsteer.runtime import journal, netstat
from bgpsteer.runtime.host import Host


class NocPortSide:
    @property
    def view(self: Host) -> CoreView:
        return CoreView(self.engine)  # stateless: a read API over whichever engine runs now

    def core_sessions(self: Host) -> dict[str, str]:
        return self.core_state

    def core_drift(self: Host) -> dict[tuple[str, str], CoreDrift]:
        return self.drift_state

    def counters(self: Host) -> dict[str, CounterState]:
        return self.counter_state

    def flow_collector(self: Host) -> CollectorState | None:
        return self.flows.state if self.flows is not None and self.flows.cfg is not None else None

    def history(self: Host, prefix: str, limit: int) -> list[dict[str, Any]]:
        return journal.history(self.journal_path, prefix, limit)

    def runtime(self: Host) -> RuntimeInfo:
        return RuntimeInfo(
            os.getpid(),
            self.started_at,
            self.reconciler is None,
            self.table_complete_after,
            tuple(self.eor_sent_to),
            netstat.md5_counters(),
        )

    def pipe(self: Host) -> PipeCounters:
        ledger = self.ledger
        return PipeCounters(
            self.malformed,
            self.ignored,
            self.commands_sent,
            ledger.acks_ok,
            ledger.acks_error,
            len(ledger.rejected),
            len(ledger.unconfirmed),
            ledger.missing_acks,
            ledger.extra_acks,
            self.previous_acks,
            ledger.outstanding_routes,
            self.deferred_flushes,
            self.output_buffer(),
            self.loop_lag_max,
            self.loop_stalls,
            self.journal.errors if self.journal is not None else 0,
            self.recorder.errors if self.recorder is not None else 0,
            self.reload_failures,
        )

    async def drain(self: Host, egress: str, on: bool) -> dict[str, Any]:
        """Drain (RFC 8326) or undrain an egress: re-decided in slices (the pipe is read meanwhile), kept across
        restarts."""
        sent = self.commands_sent
        now = self.clock()
        self.apply(self.feed(DrainChange(egress, on), now))
        self.save_state()  # a restart keeps the egress drained
        self.schedule()
        pending = await self.settled()
        return {
            "egress": egress,
            "drained": on,
            "commands_sent": self.commands_sent - sent,
            "paths": self.view.egress(egress, self.clock()).paths,
            "pending": pending,
        }

    def report_load(self: Host, utilization: dict[str, float], volumes: dict[str, float]) -> None:
        self.apply(self.feed(LoadReport(utilization, volumes), self.clock()))

    def measure(self: Host, egress: str, samples: list[Sample]) -> None:
        if self.probes is not None:
            self.probes.pushed(egress)
        self.on_probe(egress, samples, pushed=True)

    def caches(self: Host) -> dict[str, BoundedCache[Any, Any]]:
        """Every cache of the running agent (all bounded): the decoder's attribute sets and the engine's."""
        return {"attribute_sets": self.decoder.intern.table, **self.engine.caches()}
