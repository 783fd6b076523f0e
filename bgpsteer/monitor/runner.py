"""Reads each monitored core router's table every ``interval``: its ``command`` (FRR's vtysh by default, in a
namespace if given), bounded in time, parsed off the event loop; each reading, or why there is none, goes to the
agent.  The CLI is the fallback of the closed loop: it reads the whole table each time, so it suits tables of
thousands of prefixes, not millions (issue 27's BMP station is not built yet)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from bgpsteer.core.drift import CorePath
from bgpsteer.core.model import CoreRouter
from bgpsteer.monitor import frr

log = logging.getLogger("bgpsteer.monitor")
READ_TIMEOUT = 30.0  # seconds for one reading of a whole table
MAX_OUTPUT = 512 * 1024 * 1024  # bytes: a table larger than this is refused, not read

Report = Callable[[str, dict[str, list[CorePath]] | None, str], None]  # core name, table (None: failed), why


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
        raise frr.ReadError(f"cannot run {argv[0]}: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), READ_TIMEOUT)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise frr.ReadError(f"no answer within {READ_TIMEOUT:g}s") from exc
    if proc.returncode != 0:
        raise frr.ReadError(err.decode(errors="replace").strip() or f"exit {proc.returncode}")
    if len(out) > MAX_OUTPUT:
        raise frr.ReadError(f"{len(out)} bytes: larger than {MAX_OUTPUT} (use BMP for tables this large)")
    return await asyncio.to_thread(frr.parse, out)


class MonitorRunner:
    def __init__(self, report: Report) -> None:
        self.report = report
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, cores: Iterable[CoreRouter]) -> None:
        for t in self.tasks:
            t.cancel()
        self.tasks = [asyncio.ensure_future(self._run(c)) for c in cores if c.monitor is not None]

    async def _run(self, core: CoreRouter) -> None:
        assert core.monitor is not None
        while True:
            try:
                self.report(core.name, await read(core), "")
            except frr.ReadError as exc:
                self.report(core.name, None, str(exc))
            except Exception as exc:  # whatever the table holds, the reader goes on: the core is unreadable
                log.exception("reading core router %s", core.name)
                self.report(core.name, None, f"internal error: {type(exc).__name__}: {exc}")
            await asyncio.sleep(core.monitor.interval)

    async def aclose(self) -> None:
        tasks, self.tasks = self.tasks, []
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
