"""The flow collector (steering.relief.flows): NetFlow v9 / IPFIX over UDP from the listed exporters, decoded
(flows/decode.py), matched to the RIB's prefixes and added up over a window (core/flowvolume.py); every
``interval`` the per-prefix volumes go to the agent, or None when no exporter sent a record within the window.

Bounded in memory and in the event loop's time: datagrams wait in a queue of at most ``max_datagrams`` (beyond it
they are dropped and counted: a flood costs a counter, not memory), and are read in slices of at most SLICE
seconds with the loop given back between slices, so a flood never holds the loop past the 100 ms stall bound.
The prefix matcher is built off the loop (a thread) from a copy of the RIB's keys, when the RIB's size changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from bgpsteer.core.flowvolume import PrefixMatch, VolumeWindow
from bgpsteer.core.model import Flows
from bgpsteer.flows.decode import Decoder, Stats
from bgpsteer.tasks import cancel_and_wait

log = logging.getLogger("bgpsteer.flows")

SLICE = 0.02  # seconds of decoding before the loop is given back
RCVBUF = 4 << 20  # bytes asked of the kernel for the socket's receive buffer
BATCH = 256  # datagrams taken off the socket per wake-up
SO_MEMINFO = 55  # Linux socket option (not in Python's socket module): nine u32, the last the socket's drops
REBUILD = 30.0  # seconds: the prefix matcher is built again at least this often


@dataclass
class ExporterState:
    address: str
    datagrams: int = 0
    flows: int = 0
    last_at: float | None = None  # the agent's clock at its last datagram
    sampling: int | None = None  # 1 in N as it said (or as configured; None: unsampled as far as anyone said)


@dataclass
class CollectorState:
    """What the collector saw, for status and the metrics."""

    listen: str
    exporters: dict[str, ExporterState] = field(default_factory=dict)
    unlisted: int = 0  # datagrams from addresses not in exporters: dropped
    flooded: int = 0  # datagrams dropped with the queue full
    socket_dropped: int = 0  # datagrams the kernel dropped with the socket's buffer full (SO_MEMINFO)
    decoder: Stats = field(default_factory=Stats)
    unmatched_octets: int = 0  # to addresses no RIB prefix holds
    prefixes: int = 0  # prefixes with a volume in the last report
    total_mbps: float | None = None  # their sum (None: no report: unknown)
    error: str = ""  # why the collector does not run (a bind failure)


Report = Callable[[dict[str, float] | None], None]  # per-prefix Mbit/s, or None: unknown (exporters silent)
Prefixes = Callable[[], Collection[str]]  # the RIB's prefixes


def socket_drops(sock: socket.socket, before: int) -> int:
    """Datagrams the kernel dropped for this socket with its buffer full (SO_MEMINFO; ``before`` where the kernel
    does not tell)."""
    try:
        return int(struct.unpack("9I", sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 36))[8])
    except (OSError, struct.error):
        return before


class FlowCollector:
    def __init__(self, report: Report, prefixes: Prefixes, clock: Callable[[], float] = time.monotonic) -> None:
        self.report, self.prefixes, self.clock = report, prefixes, clock
        self.cfg: Flows | None = None
        self.state = CollectorState("")
        self.sock: socket.socket | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.queue: deque[tuple[str, int, bytes, float]] = deque()
        self.wake = asyncio.Event()
        self.matcher_ready = asyncio.Event()  # no datagram is matched before the RIB's prefixes are (they queue)
        self.decoder = Decoder()
        self.window = VolumeWindow(10.0)
        self.match = PrefixMatch(())
        self.matched_size = -1
        self.starting: asyncio.Task[None] | None = None

    def start(self, cfg: Flows | None) -> None:
        """(Re)start on a configuration (None: stop); an unchanged one keeps the collector and what it added up."""
        if cfg == self.cfg:
            return
        self.cfg = cfg
        previous, self.starting = self.starting, asyncio.ensure_future(self._restart(cfg, self.starting))
        del previous

    async def _restart(self, cfg: Flows | None, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await before
        await self._close()
        if cfg is None:
            return
        self.state = CollectorState(f"{cfg.listen}:{cfg.port}")
        for e in cfg.exporters:
            self.state.exporters[e.address] = ExporterState(e.address, sampling=e.sampling)
        self.decoder = Decoder()
        self.matcher_ready.clear()
        self.decoder.default_sampling = {e.address: e.sampling for e in cfg.exporters if e.sampling}
        self.state.decoder = self.decoder.stats
        self.window = VolumeWindow(cfg.window)
        sock = socket.socket(socket.AF_INET6 if ":" in cfg.listen else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # room for a burst between two loop turns (the kernel caps it at net.core.rmem_max)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.setblocking(False)
            sock.bind((cfg.listen, cfg.port))
        except OSError as exc:
            sock.close()
            self.state.error = f"cannot listen on {cfg.listen}:{cfg.port}: {exc.strerror or exc}"
            log.error("flow collector: %s", self.state.error)
            return
        self.sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)
        log.info("flow collector listening on %s:%d for %d exporter(s)", cfg.listen, cfg.port, len(cfg.exporters))
        self.tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._reports(cfg.interval))]

    def _drain(self) -> None:
        """The socket is readable: take up to BATCH datagrams into the queue (asyncio's own datagram transport
        takes one per loop turn, which leaves a flood in the kernel's buffer, lost without a count)."""
        sock = self.sock
        if sock is None:
            return
        for _ in range(BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # an ICMP error queued on the socket, say: not fatal to the collector
                log.debug("flow socket: %s", exc)
                break
            self.received(str(addr[0]), int(addr[1]), data)

    def received(self, address: str, port: int, data: bytes) -> None:
        if address not in self.state.exporters:
            self.state.unlisted += 1
            return
        if self.cfg is None or len(self.queue) >= self.cfg.max_datagrams:
            self.state.flooded += 1
            return
        self.queue.append((address, port, data, self.clock()))
        self.wake.set()

    async def _read(self) -> None:
        await self.matcher_ready.wait()
        while True:
            await self.wake.wait()
            self.wake.clear()
            started = time.monotonic()
            while self.queue:
                address, port, data, at = self.queue.popleft()
                try:
                    flows = self.decoder.feed(address, port, data, at)
                except Exception:  # the decoder never raises by design; if it does, one datagram is lost, not the loop
                    log.exception("flow datagram from %s", address)
                    continue
                e = self.state.exporters[address]
                e.datagrams += 1
                e.flows += len(flows)
                e.last_at = at
                if flows:  # what the exporter said about its sampling (any of its domains), else as configured
                    e.sampling = next((r for (a, _, _), r in self.decoder.sampling.items() if a == address), e.sampling)
                lookup, add = self.match.lookup, self.window.add
                for f in flows:
                    add(lookup(f.dst, f.v6), f.octets, at)
                if time.monotonic() - started > SLICE:
                    await asyncio.sleep(0)  # give the loop back: the pipe and the control socket come first
                    started = time.monotonic()
            self.state.unmatched_octets = self.window.unmatched

    async def _reports(self, interval: float) -> None:
        built = -REBUILD
        while True:
            prefixes = self.prefixes()
            # the RIB's size changed, or a while passed (a prefix may have been replaced by another)
            if len(prefixes) != self.matched_size or self.clock() - built >= REBUILD:
                keys = list(prefixes)
                self.match = await asyncio.to_thread(PrefixMatch, keys)
                self.matched_size, built = len(keys), self.clock()
                self.matcher_ready.set()
            await asyncio.sleep(interval)
            volumes = self.window.rates(self.clock())
            if self.sock is not None:  # once per report, not per wake-up: a syscall off the datagrams' path
                self.state.socket_dropped = socket_drops(self.sock, self.state.socket_dropped)
            self.state.prefixes = len(volumes or {})
            self.state.total_mbps = None if volumes is None else sum(volumes.values())
            self.report(volumes)

    async def aclose(self) -> None:
        if self.starting is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.starting
        self.cfg = None
        await self._close()

    async def _close(self) -> None:
        tasks, self.tasks = self.tasks, []
        await cancel_and_wait(tasks)
        if self.sock is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.queue.clear()
