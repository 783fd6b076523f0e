"""Reads each egress's interface counter every ``interval`` (egresses[].utilization) and hands the agent a rate
in Mbit/s, or why there is none (core/counters.py says when a pair of readings gives no rate).  One task per
egress; a reading that fails or hangs is a reason, never an exception out of the reader, and never a zero."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from bgpsteer.core.counters import CounterRate
from bgpsteer.core.model import Egress, Utilization
from bgpsteer.tasks import cancel_and_wait
from bgpsteer.utilization.errors import ReadError
from bgpsteer.utilization.netlink import NetlinkReader
from bgpsteer.utilization.snmp import SnmpReader

log = logging.getLogger("bgpsteer.utilization")

# egress, Mbit/s (None: no rate), why not, counter resets so far, whether the reading itself failed
Report = Callable[[str, float | None, str, int, bool], None]


def where(u: Utilization) -> str:
    """Where the counter is read, in words (status, explain, logs)."""
    if u.kind == "netlink":
        return f"netlink {u.device}{' in ' + u.netns if u.netns else ''} {u.direction}"
    return f"snmp {u.host}:{u.port} {u.device if u.if_index is None else 'ifIndex ' + str(u.if_index)} {u.direction}"


class UtilizationRunner:
    def __init__(self, report: Report, clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.clock = clock
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, egresses: Iterable[Egress]) -> None:
        """(Re)start the readers (a reload replaces them all: rates start again from a first reading)."""
        self.stop()
        self.tasks = [asyncio.ensure_future(self._poll(e.id, e.utilization)) for e in egresses if e.utilization]

    async def _poll(self, egress: str, u: Utilization) -> None:
        rate = CounterRate()
        assert u.device is not None or u.kind == "snmp"
        reader = SnmpReader(u) if u.kind == "snmp" else NetlinkReader(u.device or "", u.netns, u.direction)
        failing = ""
        try:
            while True:
                started = self.clock()
                try:
                    # bounded: a hung namespace or agent is a reason after one interval (SNMP has its own timeout)
                    reading = await asyncio.wait_for(reader.read(self.clock()), max(u.interval, u.timeout * 2))
                except (ReadError, TimeoutError) as exc:
                    why = str(exc) or f"no reading within {max(u.interval, u.timeout * 2):g}s"
                    if why != failing:
                        log.warning("utilization of %s (%s) unknown: %s", egress, where(u), why)
                    failing = why
                    self.report(egress, None, why, rate.resets, True)
                except Exception as exc:  # whatever the reader meets, it goes on: unknown, never zero
                    log.exception("reading utilization of %s", egress)
                    self.report(egress, None, f"internal error: {type(exc).__name__}: {exc}", rate.resets, True)
                else:
                    if failing:
                        log.info("utilization of %s (%s) readable again", egress, where(u))
                    failing = ""
                    mbps, why = rate.update(reading)
                    self.report(egress, mbps, why, rate.resets, False)
                await asyncio.sleep(max(0.0, u.interval - (self.clock() - started)))
        finally:
            reader.close()

    def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        self.tasks = []

    async def aclose(self) -> None:
        tasks, self.tasks = self.tasks, []
        await cancel_and_wait(tasks)
