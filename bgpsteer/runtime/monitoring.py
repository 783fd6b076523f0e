"""The closed loop's runtime side: each reading of a core router's table (bgpsteer/monitor/) is compared with
intent through the read API (core/drift.py), and a difference that outlasts the convergence window is drift: logged
when it starts and ends, kept for ``verify``, ``status`` and the metrics (a part of the running agent)."""

from __future__ import annotations

import logging

from bgpsteer.core.drift import CorePath, Tracker, compare_table
from bgpsteer.noc.port import CoreDrift
from bgpsteer.runtime.host import Host

log = logging.getLogger("bgpsteer")
LOGGED = 5  # drift lines logged per change, the rest counted


class Monitoring:
    def on_core_table(self: Host, core_name: str, table: dict[str, list[CorePath]] | None, why: str) -> None:
        core = next((c for c in self.engine.config.core_routers if c.name == core_name), None)
        if core is None or core.monitor is None:
            return  # a reload took it away
        now = self.clock()
        state = self.drift_state.get(core_name)
        if state is None or state.tracker.window != core.monitor.window:
            state = self.drift_state[core_name] = CoreDrift(core_name, Tracker(core.monitor.window))
        if table is None:
            if not state.error:
                log.warning("core router %s cannot be read: %s (drift unknown until it can)", core_name, why)
            state.error = why
            return
        if state.error:
            log.info("core router %s readable again", core_name)
        view = self.view
        egress_by_nh = {e.next_hop: e.id for e in self.engine.config.egresses}
        egress_by_nh.update({e.next_hop6: e.id for e in self.engine.config.egresses if e.next_hop6})
        found = compare_table(lambda p: view.decision(p, core.scope), [*self.engine.rib, *table], table, egress_by_nh)
        drift = state.tracker.update(found, now)
        before = {(d.prefix, d.kind) for d in state.drift}
        started = [d for d in drift if (d.prefix, d.kind) not in before]
        ended = before - {(d.prefix, d.kind) for d in drift}
        for d in started[:LOGGED]:
            log.warning("DRIFT on %s: %s: %s", core_name, d.prefix, d.detail)
        if len(started) > LOGGED:
            log.warning("DRIFT on %s: %d more prefixes (bgpsteer verify)", core_name, len(started) - LOGGED)
        if ended:
            log.info("drift on %s ended for %d prefix(es), e.g. %s", core_name, len(ended), min(ended)[0])
        state.read_at, state.error, state.pending, state.drift = now, "", len(found) - len(drift), drift
