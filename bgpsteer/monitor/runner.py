"""Reads each monitored core router's table every ``interval``: its ``command`` (FRR's vtysh by default, in a
namespace if given), bounded in time, parsed off the event loop; each reading, or why there is none, goes to the
agent; and runs a BMP station (monitor/bmp/) for each core monitored by BMP.  The CLI reads the whole table each
time, so it suits tables of thousands of prefixes; BMP sends only changes, but FRR 8.4's tells neither the best
path nor validity (policies/README.md, core_routers[].monitor)."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping

from bgpsteer.core.drift import CorePath
from bgpsteer.core.model import BmpStation, CoreRouter
from bgpsteer.monitor import bird, frr
from bgpsteer.monitor.bmp.station import Station
from bgpsteer.monitor.errors import ReadError
from bgpsteer.tasks import cancel_and_wait

log = logging.getLogger("bgpsteer.monitor")
READ_TIMEOUT = 30.0  # seconds for one reading of a whole table
MAX_OUTPUT = 512 * 1024 * 1024  # bytes: a table larger than this is refused, not read

# core name, source ("cli" or "bmp"), table (None: failed), why; awaited: the next reading waits for the comparison
Report = Callable[[str, str, Mapping[str, list[CorePath]] | None, str], Awaitable[None]]


async def read(core: CoreRouter) -> dict[str, list[CorePath]]:
    m = core.monitor
    assert m is not None
    argv = list(m.command)
    if m.netns:
        argv = ["ip", "netns", "exec", m.netns, *argv]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
        )
    except OSError as exc:
        raise ReadError(f"cannot run {argv[0]}: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), READ_TIMEOUT)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise ReadError(f"no answer within {READ_TIMEOUT:g}s") from exc
    if proc.returncode != 0:
        raise ReadError(err.decode(errors="replace").strip() or f"exit {proc.returncode}")
    if len(out) > MAX_OUTPUT:
        raise ReadError(f"{len(out)} bytes: larger than {MAX_OUTPUT} (use BMP for tables this large)")
    return await asyncio.to_thread(bird.parse if m.cli == "bird" else frr.parse, out)


class MonitorRunner:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.tasks: list[asyncio.Task[None]] = []
        # (core, where, interval, addresses allowed) -> its station and the task running it
        self.stations: dict[tuple[str, BmpStation, float, frozenset[str]], tuple[Station, asyncio.Task[None]]] = {}
        self.closing: set[asyncio.Future[None]] = set()  # stations a reload took away, closing

    def start(self, cores: Iterable[CoreRouter]) -> None:
        """(Re)start the readers; a BMP station whose core, address and interval are unchanged keeps its session
        (a new one would make the core send its whole table again)."""
        cores = list(cores)
        for t in self.tasks:
            t.cancel()
        self.tasks = [asyncio.ensure_future(self._run(c)) for c in cores if c.monitor and c.monitor.cli]
        wanted = {
            (c.name, c.monitor.bmp, c.monitor.interval, frozenset(c.monitor.bmp.allow or (c.address,)))
            for c in cores
            if c.monitor is not None and c.monitor.bmp is not None
        }
        for key in [k for k in self.stations if k not in wanted]:
            station, task = self.stations.pop(key)
            task.cancel()
            self.closing.add(closing := asyncio.ensure_future(station.aclose()))
            closing.add_done_callback(self.closing.discard)
        for key in wanted - self.stations.keys():
            name, where, interval, allowed = key
            station = Station(name, where, interval, functools.partial(self.report, name, "bmp"), allowed)
            self.stations[key] = (station, asyncio.ensure_future(station.run()))

    def station(self, core: str) -> Station | None:
        return next((s for (name, *_), (s, _) in self.stations.items() if name == core), None)

    async def _run(self, core: CoreRouter) -> None:
        assert core.monitor is not None
        while True:
            try:
                table = await read(core)
            except ReadError as exc:
                await self.report(core.name, "cli", None, str(exc))
            except Exception as exc:  # whatever the table holds, the reader goes on: the core is unreadable
                log.exception("reading core router %s", core.name)
                await self.report(core.name, "cli", None, f"internal error: {type(exc).__name__}: {exc}")
            else:
                await self.report(core.name, "cli", table, "")
            await asyncio.sleep(core.monitor.interval)

    async def aclose(self) -> None:
        tasks, self.tasks = self.tasks, []
        for station, task in self.stations.values():
            tasks.append(task)
            await station.aclose()
        self.stations.clear()
        await cancel_and_wait(tasks)
