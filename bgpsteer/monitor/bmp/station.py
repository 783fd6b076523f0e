"""bgpsteer's BMP station for one core router: listens where the core connects (FRR's ``bmp connect``), keeps
one session at a time (a new connection from the core replaces the old one, as after its restart), and reports
its table every ``interval`` once whole (bmp/table.py).

BMP floods at the start of a session (the core's whole table).  The station parses for at most ``SLICE`` at a time
and then yields to the event loop, so the agent's loop is held no longer than that and one message (bench/bmp.py
measures both the rate and the longest stall).  In the agent's process, not a separate one: the flood is once per
session, and the loop's bound is what matters; the bench shows the cost.  A header that cannot be BMP ends the
session (there is no finding the next message in the stream); the core reconnects and sends its table again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from bgpsteer.core.drift import CorePath
from bgpsteer.core.model import BmpStation
from bgpsteer.monitor.bmp import wire
from bgpsteer.monitor.bmp.table import BmpTable

log = logging.getLogger("bgpsteer.monitor")
CHUNK = 64 * 1024
REFUSALS_LOGGED = 10  # sessions refused that are logged one by one
RESYNC_GRACE = 60.0  # seconds a resync may take (the core reconnects, sends its table) before it is unreadable
# seconds of parsing before the loop gets its turn (ExaBGP's parser: 85-170 us an UPDATE here); with 20 ms the
# pipe waited up to 125-150 ms during a flood of 200k messages, with 5 ms 81 ms (bench/bmp.py, 100k prefixes)
SLICE = 0.005

Report = Callable[[Mapping[str, list[CorePath]] | None, str], Awaitable[None]]  # the table (None: not whole), why not


class Station:
    def __init__(
        self, core: str, where: BmpStation, interval: float, report: Report, allowed: frozenset[str] | None = None
    ) -> None:
        self.core = core
        self.allowed = allowed  # addresses a session may come from (None: any)
        self.refused = 0
        self.where = where
        self.interval = interval
        self.report = report
        self.table: BmpTable | None = None  # the current session's (None: no session)
        self.sessions = 0
        self.closed_why = "no BMP session from the core yet"
        self.resyncing_since: float | None = None  # when the station ended the session itself, to resync
        self._ended_by_us = False  # the current session is being ended by resync(), not by the core
        self._server: asyncio.Server | None = None
        self._current: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        """Listen (again every ``interval`` while the address cannot be bound), then report every ``interval``."""
        while self._server is None:
            try:
                self._server = await asyncio.start_server(self._session, self.where.listen, self.where.port)
            except OSError as exc:
                await self.report(
                    None, f"BMP station cannot listen on {self.where.listen} port {self.where.port}: {exc}"
                )
                await asyncio.sleep(self.interval)
        log.info("BMP station for %s listening on %s port %d", self.core, self.where.listen, self.where.port)
        while True:
            t = self.table
            if t is not None and not t.waiting(time.monotonic()):
                self.resyncing_since = None
                await self.report(t.table(), "")
            elif self.resyncing_since is not None and time.monotonic() - self.resyncing_since < RESYNC_GRACE:
                pass  # our own resync: the last whole reading stands until the new one is whole
            elif t is None:
                refused = f"; {self.refused} session(s) refused from addresses not allowed" if self.refused else ""
                await self.report(None, self.closed_why + refused)
            else:
                await self.report(None, t.waiting(time.monotonic()))
            await asyncio.sleep(self.interval)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if self.allowed is not None and (not peer or peer[0] not in self.allowed):
            self.refused += 1  # never let another host replace the core's session, or feed a table of its own
            if self.refused <= REFUSALS_LOGGED:
                log.warning(
                    "BMP: refused a session for %s from %s (allowed: %s)", self.core, peer, sorted(self.allowed)
                )
            writer.close()
            return
        if self._current is not None:
            log.warning("BMP: a new session from %s replaces the one for %s", peer, self.core)
            self._current.close()
        self._current = writer
        table = self.table = BmpTable()
        self.closed_why = "no BMP session from the core"
        self.sessions += 1
        log.info("BMP session %d for %s from %s", self.sessions, self.core, peer)
        buf = bytearray()
        why = "closed by the core"
        try:
            while data := await reader.read(CHUNK):
                buf += data
                messages, used = wire.split(buf)
                del buf[:used]
                started = time.perf_counter()
                now = time.monotonic()
                for m in messages:
                    table.apply(m, now)
                    if time.perf_counter() - started > SLICE:
                        await asyncio.sleep(0)  # the agent's loop gets its turn between slices of parsing
                        started = time.perf_counter()
                await asyncio.sleep(0)
        except wire.BmpError as exc:
            why = f"not BMP any more: {exc}"
            table.counters.malformed += 1
        except OSError as exc:
            why = str(exc)
        finally:
            if self._current is writer:
                self._current = None
                self.table = None
                if self._ended_by_us:  # closed_why says why we ended it
                    self._ended_by_us = False
                else:
                    self.closed_why = f"the BMP session from {peer} ended ({why}); waiting for the core to reconnect"
                log.warning("BMP session for %s from %s ended: %s", self.core, peer, why)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    def resync(self, why: str) -> bool:
        """End the session so that the core connects again and sends its whole table (FRR 8.4's post-policy
        monitoring can leave a prefix out after its next-hop comes back: measured, policies/README.md).  False
        when there is no session to end."""
        if self._current is None:
            return False
        log.warning("BMP: ending the session for %s so that it sends its table again: %s", self.core, why)
        self.closed_why = f"resynchronising ({why})"
        self._ended_by_us = True
        self.resyncing_since = time.monotonic()
        self._current.close()
        return True

    async def aclose(self) -> None:
        """Stop listening and end the session (the task running ``run`` is the caller's to cancel)."""
        if self._current is not None:
            self._current.close()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.CancelledError):
                await self._server.wait_closed()
