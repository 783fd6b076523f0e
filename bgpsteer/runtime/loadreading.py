"""Utilization read from the egresses' interface counters (bgpsteer/utilization/) and per-prefix volumes from flow
export (bgpsteer/flows/): each goes to the engine as a load report from source "counter" or "flow", holding for
a while (a number older than that is unknown to relief, never zero); what each reader last did is kept for
``status``, ``explain`` and the metrics."""

from __future__ import annotations

from bgpsteer.core.inputs import LoadReport
from bgpsteer.noc.port import CounterState
from bgpsteer.runtime.host import Host
from bgpsteer.utilization.runner import where


class LoadReading:
    def on_utilization(self: Host, egress: str, mbps: float | None, why: str, resets: int, failed: bool) -> None:
        """A reader's rate (None: why there is none; ``failed``: the reading itself failed, not just gave no rate)."""
        e = next((x for x in self.engine.config.egresses if x.id == egress), None)
        if e is None or e.utilization is None:
            return  # a reload took it away
        now = self.clock()
        state = self.counter_state.get(egress)
        if state is None or state.where != where(e.utilization):
            state = self.counter_state[egress] = CounterState(egress, where(e.utilization))
        state.read_at, state.why, state.resets = now, why, resets
        state.readings += 1
        if mbps is None:
            state.mbps = None
            state.failures += failed
            return
        state.mbps, state.rate_at = mbps, now
        if self.engine.config.steering.relief is not None:
            self.apply(self.feed(LoadReport({egress: mbps}, {}, "counter", e.utilization.max_age), now))

    def on_flows(self: Host, volumes: dict[str, float] | None) -> None:
        """The flow collector's per-prefix volumes over its window (None: no exporter sent a record within it, so
        nothing is reported and the last volumes expire to unknown)."""
        relief = self.engine.config.steering.relief
        if volumes is None or relief is None or relief.flows is None:
            return
        # they hold for three reports: one late report is not yet unknown
        self.apply(self.feed(LoadReport({}, volumes, "flow", 3 * relief.flows.interval), self.clock()))
