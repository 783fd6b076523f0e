"""The closed loop's runtime side: each reading of a core router's table (bgpsteer/monitor/) is compared with
intent through the read API (core/drift.py), and a difference that outlasts the convergence window is drift: logged
when it starts and ends, kept for ``verify``, ``status`` and the metrics (a part of the running agent)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from bgpsteer.core.drift import CorePath, Drift, Tracker, each_prefix
from bgpsteer.core.model import CoreRouter
from bgpsteer.noc.port import CoreDrift
from bgpsteer.runtime.host import Host

log = logging.getLogger("bgpsteer")
LOGGED = 5  # drift lines logged per change, the rest counted
RESYNC_MAX = 3600.0  # seconds: the longest wait between two BMP resyncs while new differences keep coming
# seconds of comparing before the loop gets its turn (a table of 100k prefixes takes about a second); with 20 ms
# the pipe waited up to 116-146 ms during comparisons, with 5 ms 41 ms (bench/bmp.py, 100k prefixes)
SLICE = 0.005
STARTING = "bgpsteer's own table is not complete yet (after a start: the clouds' tables and reconcile)"


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
        if self.table_complete_after is None:
            # intent is not whole yet (after a start: the clouds' tables, reconcile): every path the core holds
            # from before would look unannounced; measured as 8 false alarms after a helper restart in the lab
            state.error = STARTING
            return
        if state.error and state.error != STARTING:
            log.info("core router %s readable by %s again", core_name, source)
        found = await _differences(self, core, table, source == "cli")
        drift = state.tracker.update(found, now)
        if source == "bmp" and core.monitor.bmp is not None:
            drift = _confirmed(self, state, drift, core.monitor.bmp.resync_interval, now)
        _note(self, state, drift, now)
        state.read_at, state.error, state.pending, state.drift = now, "", len(found) - len(drift), drift
        state.held = table


async def _differences(self: Host, core: CoreRouter, table: Mapping[str, list[CorePath]], uses: bool) -> list[Drift]:
    """Every prefix bgpsteer announces or the core holds, compared (core/drift.py), a slice at a time."""
    view = self.view
    found: list[Drift] = []
    started_at = time.perf_counter()
    prefixes = [*self.engine.rib, *table]
    by_nh = self.engine.config.egress_by_next_hop
    for n, here in enumerate(each_prefix(lambda p: view.decision(p, core.scope), prefixes, table, by_nh, uses)):
        found += here
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


def _confirmed(self: Host, state: CoreDrift, lasting: list[Drift], interval: float, now: float) -> list[Drift]:
    """BMP differences that outlast the window, confirmed by a fresh table: FRR 8.4 can leave a prefix out of its
    post-policy monitoring for good after its next-hop changes (measured), so a difference first asks the core
    for its whole table again (the station ends the session; the last whole reading stands meanwhile), and is
    drift only if the new session's table still shows it.  At most one resync per ``interval``, twice as long
    after each while new differences keep coming (at most an hour); none lasting resets that."""
    if not lasting:
        state.resyncs = 0
        return []
    station = self.monitors.station(state.core) if self.monitors is not None else None
    fresh = station is not None and state.resync_at is not None and station.sessions > state.resync_session
    seen = state.tracker.first_seen
    confirmed = [d for d in lasting if fresh and seen.get((d.prefix, d.kind), now) <= (state.resync_at or 0.0)]
    if len(confirmed) < len(lasting) and station is not None:
        gap = min(interval * 2 ** max(state.resyncs - 1, 0), RESYNC_MAX)  # interval, then twice, four times...
        due = state.resync_at is None or now - state.resync_at >= gap
        if due and station.resync(f"{len(lasting) - len(confirmed)} difference(s) to confirm with a fresh table"):
            state.resync_at, state.resync_session = now, station.sessions
            state.resyncs += 1
            state.resyncs_total += 1
    return confirmed
