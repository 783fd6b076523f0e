"""Runs the tunnel readers of the configured egresses and hands each reading to the agent: link watchers
(``type: interface``, event-driven, one per namespace) and WireGuard pollers (``type: wireguard``, every
``interval``).  A WireGuard reading is handed on when it differs from the last, and at least every ``HEARTBEAT``
seconds (the core ages a handshake only when it reads it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from bgpsteer.core.model import Egress, Tunnel
from bgpsteer.core.tunnel import TunnelFacts
from bgpsteer.tunnels import wireguard
from bgpsteer.tunnels.ipsec import IpsecWatcher
from bgpsteer.tunnels.netlink import LinkWatcher

log = logging.getLogger("bgpsteer.tunnels")
HEARTBEAT = 1.0  # seconds: an unchanged WireGuard reading is handed on at least this often

Report = Callable[[TunnelFacts], None]


async def read_wireguard(egress: str, t: Tunnel, wall_now: Callable[[], float] = time.time) -> TunnelFacts:
    """One reading of a WireGuard tunnel: its control socket, else ``wg show``; failures as unreadable facts."""
    try:
        try:
            text, parse = await wireguard.read_socket(t.device), wireguard.parse_uapi
        except FileNotFoundError:
            text, parse = await wireguard.read_dump(t.device, t.netns), wireguard.parse_dump
        return wireguard.facts(egress, t.device, t.peer, parse(text), wall_now())
    except FileNotFoundError:
        return TunnelFacts(egress, True, False, detail=f"no WireGuard device {t.device}")
    except PermissionError as exc:
        return TunnelFacts(egress, False, detail=f"permission denied: {exc}")
    except (TimeoutError, wireguard.ReadError, OSError, ValueError) as exc:
        return TunnelFacts(egress, False, detail=str(exc) or type(exc).__name__)


def _same(a: TunnelFacts, b: TunnelFacts) -> bool:
    return (a.readable, a.present, a.handshake_stamp, a.detail) == (b.readable, b.present, b.handshake_stamp, b.detail)


class TunnelRunner:
    def __init__(self, report: Report, clock: Callable[[], float] = time.monotonic) -> None:
        self.report = report
        self.clock = clock
        self.tasks: list[asyncio.Task[None]] = []
        self.watchers: list[IpsecWatcher] = []

    def start(self, egresses: Iterable[Egress]) -> None:
        """(Re)start the readers for these egresses' tunnels (a reload replaces them all)."""
        self._stop()
        links: dict[str | None, dict[str, str]] = defaultdict(dict)
        vicis: dict[str, dict[str, Tunnel]] = defaultdict(dict)
        for e in egresses:
            if e.tunnel is None:
                continue
            if e.tunnel.kind == "interface":
                links[e.tunnel.netns][e.tunnel.device] = e.id
            elif e.tunnel.kind == "ipsec":
                vicis[e.tunnel.vici][e.id] = e.tunnel
            else:
                self.tasks.append(asyncio.ensure_future(self._poll(e.id, e.tunnel)))
        for netns, devices in links.items():
            self.tasks.append(asyncio.ensure_future(LinkWatcher(netns, devices, self.report).run()))
        for path, tunnels in vicis.items():
            w = IpsecWatcher(path, tunnels, self.report, min(t.interval for t in tunnels.values()))
            w.start()
            self.watchers.append(w)

    def _stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks = []
        for w in self.watchers:
            w.close()
        self.watchers = []

    async def _poll(self, egress: str, t: Tunnel) -> None:
        last: TunnelFacts | None = None
        sent_at = 0.0
        while True:
            try:
                f = await read_wireguard(egress, t)
            except Exception as exc:  # a reading that fails in a way not foreseen is unreadable, and polling goes on
                log.exception("reading WireGuard tunnel of egress %s", egress)
                f = TunnelFacts(egress, False, detail=f"internal error: {type(exc).__name__}: {exc}")
            now = self.clock()
            if last is None or not _same(f, last) or now - sent_at >= HEARTBEAT:
                self.report(f)
                last, sent_at = f, now
            await asyncio.sleep(t.interval)

    async def aclose(self) -> None:
        tasks = self.tasks
        self._stop()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks = []


def missing_devices(egresses: Iterable[Egress], filename: str) -> list[str]:
    """Warnings for tunnels whose device is not there where this runs (``check`` on the route server): valid
    config, but at run time such a tunnel is unknown (never up) until the device appears."""
    out = []
    for e in egresses:
        t = e.tunnel
        if t is None:
            continue
        if t.kind == "ipsec":
            if not Path(t.vici).exists():
                out.append(
                    f"{filename}: egresses[{e.id}].tunnel.vici: no strongSwan VICI socket at {t.vici}: its tunnel "
                    "counts as unknown (never up, never down) until charon runs"
                )
            continue
        where = f"namespace {t.netns}" if t.netns else "this namespace"
        if t.netns and not Path("/run/netns", t.netns).exists():
            present = False
        elif t.netns:
            test = ["ip", "netns", "exec", t.netns, "test", "-e", f"/sys/class/net/{t.device}"]
            present = subprocess.run(test, capture_output=True, check=False, timeout=10).returncode == 0
        else:
            present = Path("/sys/class/net", t.device).exists()
        if not present:
            out.append(
                f"{filename}: egresses[{e.id}].tunnel.device: no device {t.device} in {where}: its tunnel counts as "
                "unknown (never up, never down) until it appears"
            )
    return out
