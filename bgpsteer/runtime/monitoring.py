"""The closed loop's runtime side: each reading of a core router's table (bgpsteer/monitor/) is compared with
intent through the read API (core/drift.py), and a difference that outlasts the convergence window is drift: logged
when it starts and ends, kept for ``verify``, ``status`` and the metrics (a part of the running agent)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from bgpsteer.core.drift import CorePath, Drift, Tracker, compare
from bgpsteer.core.model import CoreRouter
from bgpsteer.noc.port import CoreDrift
from bgpsteer.runtime.host import Host

log = logging.getLogger("bgpsteer")
LOGGED = 5  # drift lines logged per change, the rest counted
RESYNC_MAX = 3600.0  # seconds: the longest wait between two BMP resynchronisations while drift lasts
# seconds of comparing before the loop gets its turn (a table of 100k prefixes takes about a second); with 20 ms
# the pipe waited up to 116-146 ms during comparisons, with 5 ms 41 ms (bench/bmp.py, 100k prefixes)
SLICE = 0.005


class Monitoring:
    async def on_core_table(
        self: Host, core_name: str, source: str, table: Mapping[str, list[CorePath]] | None, why: str
    ) -> None:
        """One reading (None: why there is none), compared a slice at a time; the reader awaits it, so one
        comparison per core and source runs at once."""
        core = next((c for c in self.engine.config.core_routers if c.name == core_name), None)
        if core is None or core.monitor is None or source not in core.monitor.sources:
            return  # a reload took it away
        now = self.clock()
        state = self.drift_state.get((core_name, source))
        if state is None or state.tracker.window != core.monitor.window:
            state = self.drift_state[(core_name, source)] = CoreDrift(core_name, Tracker(core.monitor.window), source)
        if table is None:
            if not state.error:
                log.warning(
                    "core router %s cannot be read by %s: %s (drift unknown until it can)", core_name, source, why
                )
            state.error = why
            return
        if state.error:
            log.info("core router %s readable by %s again", core_name, source)
        found = await _differences(self, core, table, source == "cli")
        drift = state.tracker.update(found, now)
        _note(self, state, drift, now)
        state.read_at, state.error, state.pending, state.drift = now, "", len(found) - len(drift), drift
        state.held = table
        if source == "bmp" and core.monitor.bmp is not None:
            _resync(self, state, core.monitor.bmp.resync_after, now)


async def _differences(self: Host, core: CoreRouter, table: Mapping[str, list[CorePath]], uses: bool) -> list[Drift]:
    """Every prefix bgpsteer announces or the core holds, compared (core/drift.py), a slice at a time."""
    view = self.view
    egress_by_nh = {e.next_hop: e.id for e in self.engine.config.egresses}
    egress_by_nh.update({e.next_hop6: e.id for e in self.engine.config.egresses if e.next_hop6})
    found: list[Drift] = []
    started_at = time.perf_counter()
    for n, prefix in enumerate(dict.fromkeys([*self.engine.rib, *table])):
        found += compare(prefix, view.decision(prefix, core.scope), table.get(prefix, ()), egress_by_nh, uses)
        if n % 256 == 0 and time.perf_counter() - started_at > SLICE:
            await asyncio.sleep(0)  # the RIB may change meanwhile: a difference that brief is within the window
            started_at = time.perf_counter()
    return found


def _note(self: Host, state: CoreDrift, drift: list[Drift], now: float) -> None:
    """Drift that began and ended since the last reading: into the log (a few lines) and the journal (all)."""
    core, source = state.core, state.source
    before = {(d.prefix, d.kind) for d in state.drift}
    started = [d for d in drift if (d.prefix, d.kind) not in before]
    ended = before - {(d.prefix, d.kind) for d in drift}
    for d in started[:LOGGED]:
        log.warning("DRIFT on %s (%s): %s: %s", core, source, d.prefix, d.detail)
    if len(started) > LOGGED:
        log.warning("DRIFT on %s (%s): %d more prefixes (bgpsteer verify)", core, source, len(started) - LOGGED)
    if ended:
        log.info("drift on %s (%s) ended for %d prefix(es), e.g. %s", core, source, len(ended), min(ended)[0])
    if self.journal is not None:
        self.journal.drift(now, core, source, started, sorted(ended))


def _resync(self: Host, state: CoreDrift, after: float, now: float) -> None:
    """BMP drift that lasts ``after``: ask the core for its whole table again (FRR 8.4 can leave a prefix out
    of its post-policy monitoring for good).  Drift that is real comes back after the new table, and the next
    ask waits twice as long (at most an hour); drift gone resets that."""
    if not state.drift:
        state.resyncs, state.resync_at = 0, None
        return
    oldest = min(state.tracker.first_seen.get((d.prefix, d.kind), now) for d in state.drift)
    gap = min(after * 2**state.resyncs, RESYNC_MAX)
    if now - oldest < after or (state.resync_at is not None and now - state.resync_at < gap):
        return
    station = self.monitors.station(state.core) if self.monitors is not None else None
    if station is not None and station.resync(f"{len(state.drift)} difference(s) for {now - oldest:.0f}s"):
        state.resyncs, state.resync_at = state.resyncs + 1, now
        state.resyncs_total += 1
