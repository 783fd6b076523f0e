"""Probe runner: measures every egress through its own path (an adapter around the core).

Each egress with a ``probe`` gets one asyncio task that runs a round every
``interval``: one probe per target, concurrently, each bounded by ``timeout``.
A round's samples go to a callback (the agent hands them to the core).  Probe
kinds: ICMP echo, TCP connect, UDP echo, HTTP(S) (status and time to first
byte).  Binding to the egress's path: ``source`` address, ``device``
(SO_BINDTODEVICE, an interface or a VRF) and/or ``netns`` (sockets made
inside a network namespace).

Failures are samples with a reason, never exceptions: a target that hangs is
a timeout, a name that does not resolve is a DNS failure, a device that has
vanished is a bind error, a namespace that has vanished says so.  Traffic goes only to the configured targets, at
most one probe per target per round, and rounds are at least 50 ms apart.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import itertools
import logging
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bgpsteer.core.measure import Sample
from bgpsteer.core.model import Egress, Probe

log = logging.getLogger("bgpsteer.probes")
ICMP_HEADER = 8  # type, code, checksum, identifier, sequence
STATUS_LINE_WORDS = 2  # "HTTP/1.1 200 ...": version and status at least
HTTP_ERROR = 400

Report = Callable[[str, list[Sample]], None]
_ids = itertools.count(1)


class ProbeError(Exception):
    """A probe failed for a stated reason."""


class NetnsError(ProbeError):
    """The probe's network namespace cannot be used (gone, or not enterable)."""


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


async def _resolve(host: str, port: int | None, family: int, timeout: float) -> tuple[int, Any]:
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port or 0, family=family, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError:
        raise ProbeError(f"DNS: resolving {host!r} timed out") from None
    except OSError as exc:
        raise ProbeError(f"DNS: {host!r} does not resolve ({exc.strerror or exc})") from None
    if not infos:
        raise ProbeError(f"DNS: {host!r} has no address")
    fam, _, _, _, addr = infos[0]
    return fam, addr


CLONE_NEWNET = 0x40000000
_netns_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bgpsteer-netns")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # loaded once, for setns()


def _in_netns(netns: str, make: Callable[[], socket.socket]) -> socket.socket:
    """Create a socket inside a network namespace (it stays there), from a worker thread.

    setns() moves only the calling thread, and the thread goes back at once, so
    the event loop's own namespace never changes.  A namespace that has vanished
    is a failed probe with that reason."""
    libc = _libc()
    path = netns if "/" in netns else f"/run/netns/{netns}"
    try:
        target = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise NetnsError(f"network namespace {netns} is gone") from None
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise NetnsError(f"cannot enter network namespace {netns}: {os.strerror(ctypes.get_errno())}")
        try:
            return make()
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:  # pragma: no cover - returning home cannot fail for root
                raise RuntimeError("cannot return to the agent's network namespace")
    finally:
        os.close(target)
        os.close(home)


async def _socket(family: int, kind: int, proto: int, probe: Probe) -> socket.socket:
    if probe.netns:
        loop = asyncio.get_running_loop()
        s = await loop.run_in_executor(
            _netns_thread, _in_netns, probe.netns, lambda: socket.socket(family, kind, proto)
        )
    else:
        s = socket.socket(family, kind, proto)
    try:
        s.setblocking(False)
        if probe.device:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, probe.device.encode())
        if probe.source:
            s.bind((probe.source, 0))
    except OSError as exc:
        s.close()
        raise ProbeError(
            f"cannot bind to the egress path (source {probe.source}, device {probe.device}): {exc.strerror or exc}"
        ) from None
    return s


async def _icmp(probe: Probe, target: str) -> float:
    family, addr = await _resolve(target, None, socket.AF_UNSPEC, probe.timeout)
    v6 = family == socket.AF_INET6
    proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    try:  # unprivileged ICMP sockets where ping_group_range allows, else raw (root)
        s = await _socket(family, socket.SOCK_DGRAM, proto, probe)
        raw = False
    except NetnsError:
        raise
    except (ProbeError, OSError):
        s = await _socket(family, socket.SOCK_RAW, proto, probe)
        raw = True
    loop = asyncio.get_running_loop()
    ident, seq = os.getpid() & 0xFFFF, next(_ids) & 0xFFFF
    payload = b"bgpsteer" + struct.pack("!d", time.monotonic())
    echo_request, echo_reply = (128, 129) if v6 else (8, 0)
    header = struct.pack("!BBHHH", echo_request, 0, 0, ident, seq)
    packet = header + payload
    if not v6:  # the kernel computes ICMPv6 checksums
        packet = struct.pack("!BBHHH", echo_request, 0, _checksum(packet), ident, seq) + payload
    with s:
        t0 = time.monotonic()
        await loop.sock_sendto(s, packet, addr)
        while True:
            data, _ = await loop.sock_recvfrom(s, 2048)
            if raw and not v6:
                data = data[(data[0] & 0x0F) * 4 :]  # strip the IPv4 header
            if len(data) < ICMP_HEADER:
                continue
            typ, _, _, rid, rseq = struct.unpack("!BBHHH", data[:ICMP_HEADER])
            # DGRAM ICMP sockets rewrite the id: match on sequence and payload then
            if typ == echo_reply and rseq == seq and (not raw or rid == ident) and data[ICMP_HEADER:] == payload:
                return (time.monotonic() - t0) * 1000


async def _tcp(probe: Probe, target: str) -> float:
    family, addr = await _resolve(target, probe.port, socket.AF_UNSPEC, probe.timeout)
    s = await _socket(family, socket.SOCK_STREAM, 0, probe)
    with s:
        t0 = time.monotonic()
        await asyncio.get_running_loop().sock_connect(s, addr)
        return (time.monotonic() - t0) * 1000


async def _udp(probe: Probe, target: str) -> float:
    family, addr = await _resolve(target, probe.port, socket.AF_UNSPEC, probe.timeout)
    s = await _socket(family, socket.SOCK_DGRAM, 0, probe)
    loop = asyncio.get_running_loop()
    token = b"bgpsteer-probe %d %d" % (os.getpid(), next(_ids))
    with s:
        await loop.sock_connect(s, addr)
        t0 = time.monotonic()
        await loop.sock_sendall(s, token)
        while True:
            data = await loop.sock_recv(s, 2048)
            if data == token:
                return (time.monotonic() - t0) * 1000


async def _http(probe: Probe, target: str) -> float:
    """GET http(s)://target[:port]/path; time to the first byte of the response; 2xx/3xx is good."""
    tls = target.startswith("https://")
    host = target.split("://", 1)[-1].rstrip("/")
    port = probe.port or (443 if tls else 80)
    family, addr = await _resolve(host, port, socket.AF_UNSPEC, probe.timeout)
    s: socket.socket | None = await _socket(family, socket.SOCK_STREAM, 0, probe)
    assert s is not None
    loop = asyncio.get_running_loop()
    try:
        t0 = time.monotonic()
        await loop.sock_connect(s, addr)
        ctx = ssl.create_default_context() if tls else None
        reader, writer = await asyncio.open_connection(sock=s, ssl=ctx, server_hostname=host if tls else None)
        s = None  # the transport owns it now
        writer.write(
            f"GET {probe.http_path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: bgpsteer-probe\r\nConnection: "
            "close\r\n\r\n".encode()
        )
        await writer.drain()
        status_line = await reader.readline()
        ttfb = (time.monotonic() - t0) * 1000
        writer.close()
        parts = status_line.split()
        if len(parts) < STATUS_LINE_WORDS or not parts[1].isdigit():
            raise ProbeError(f"HTTP: not an HTTP response ({status_line[:40]!r})")
        status = int(parts[1])
        if status >= HTTP_ERROR:
            raise ProbeError(f"HTTP: status {status}")
        return ttfb
    finally:
        if s is not None:
            s.close()


KINDS = {"icmp": _icmp, "tcp": _tcp, "udp": _udp, "http": _http}  # "external": pushed in, see ProbeRunner


async def probe_once(probe: Probe, target: str) -> Sample:
    """One probe to one target: a Sample, whatever happens."""
    if probe.kind not in KINDS:
        return Sample(target, False, None, f"{probe.kind} measurements are pushed in, not probed")
    try:
        rtt = await asyncio.wait_for(KINDS[probe.kind](probe, target), probe.timeout)
        return Sample(target, True, rtt)
    except TimeoutError:
        return Sample(target, False, None, f"timeout after {probe.timeout * 1000:.0f} ms")
    except ProbeError as exc:
        return Sample(target, False, None, str(exc))
    except OSError as exc:
        return Sample(target, False, None, os.strerror(exc.errno) if exc.errno else str(exc))
    except Exception as exc:
        return Sample(target, False, None, f"probe error: {type(exc).__name__}: {exc}")


async def probe_round(probe: Probe) -> list[Sample]:
    return list(await asyncio.gather(*(probe_once(probe, t) for t in probe.targets)))


class ProbeRunner:
    """One task per probed egress; stop() cancels them all."""

    def __init__(self, report: Report, max_rounds: int | None = None) -> None:
        self.report = report
        self.max_rounds = max_rounds  # bounded runs for tests and benchmarks
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.last_push: dict[str, float] = {}

    def start(self, egresses: tuple[Egress, ...]) -> None:
        self.stop()
        for e in egresses:
            if e.probe is not None:
                loop = self._external if e.probe.kind == "external" else self._loop
                self.tasks[e.id] = asyncio.ensure_future(loop(e.id, e.probe))

    def pushed(self, egress: str) -> None:
        """An external measurement for the egress arrived (bgpsteer measure / the control socket)."""
        self.last_push[egress] = asyncio.get_running_loop().time()

    async def _external(self, egress: str, probe: Probe) -> None:
        """Measurements come from outside; silence for 3 intervals is a failed round (a dead exporter
        must not keep an egress in service forever; fail static guards against all of them dying)."""
        loop = asyncio.get_running_loop()
        self.last_push.setdefault(egress, loop.time())
        n = 0
        while self.max_rounds is None or n < self.max_rounds:
            await asyncio.sleep(probe.interval)
            n += 1
            silent = loop.time() - self.last_push[egress]
            if silent > 3 * probe.interval:
                reason = f"no external measurement for {silent:.1f}s"
                self.report(egress, [Sample(t, False, None, reason) for t in probe.targets])

    async def _loop(self, egress: str, probe: Probe) -> None:
        loop = asyncio.get_running_loop()
        n = 0
        next_at = loop.time()
        while self.max_rounds is None or n < self.max_rounds:
            samples = await probe_round(probe)
            try:
                self.report(egress, samples)
            except Exception:
                log.exception("handling probe results of egress %s failed; probing goes on", egress)
            n += 1
            next_at = max(next_at + probe.interval, loop.time())  # never catch up in a burst
            await asyncio.sleep(next_at - loop.time())

    def stop(self) -> None:
        for t in self.tasks.values():
            t.cancel()
        self.tasks.clear()

    async def aclose(self) -> None:
        """Stop and wait for every probe task to end (no task left pending when the loop closes)."""
        tasks = list(self.tasks.values())
        self.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
