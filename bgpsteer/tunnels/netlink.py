"""Tunnel devices' link state from netlink: a dump at start, then the kernel's link events as they come (an
``ip link set DEV down`` is seen in milliseconds, measured: 4 ms), through pyroute2's asyncio netlink socket.

One watcher per network namespace.  A namespace that cannot be opened (gone, never made) makes its devices
unreadable, never down; the watcher tries again every ``RETRY`` seconds.  It never creates a namespace."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.rtnl import RTMGRP_LINK

from bgpsteer.core.tunnel import TunnelFacts

log = logging.getLogger("bgpsteer.tunnels")
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000  # carrier: a TUN device's owner (wireguard-go) is attached, a veth's peer is up
RETRY = 1.0  # seconds before a failed namespace is opened again
NEWLINK, DELLINK = "RTM_NEWLINK", "RTM_DELLINK"


def link_up(flags: int) -> bool:
    """Administratively up and with a carrier (operstate alone says UNKNOWN for TUN devices that work)."""
    return bool(flags & IFF_UP) and bool(flags & IFF_LOWER_UP)


def reading(egress: str, message: Mapping[str, Any] | None, device: str) -> TunnelFacts:
    """One link message (None: the device is not there) as a tunnel reading."""
    if message is None:
        return TunnelFacts(egress, True, False, detail=f"no device {device}")
    flags = int(message.get("flags", 0))
    return TunnelFacts(egress, True, True, link_up=link_up(flags), detail=f"flags {flags:#x}")


class LinkWatcher:
    """The link state of some devices of one namespace (``devices``: device -> egress)."""

    def __init__(self, netns: str | None, devices: Mapping[str, str], report: Callable[[TunnelFacts], None]) -> None:
        self.netns = netns
        self.devices = dict(devices)
        self.report = report
        self.failing = False

    async def run(self) -> None:
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an unreadable namespace or socket: unknown, never down
                where = f"namespace {self.netns}" if self.netns else "this namespace"
                if not self.failing:  # once per outage, not every retry
                    log.error("tunnel links in %s cannot be read (tried again every %gs): %s", where, RETRY, exc)
                self.failing = True
                for egress in self.devices.values():
                    self.report(TunnelFacts(egress, False, detail=f"netlink in {where}: {exc}"))
            await asyncio.sleep(RETRY)

    async def _watch(self) -> None:
        # flags=0: open the namespace, never create it (pyroute2 would make a missing one by default)
        ipr = AsyncIPRoute(netns=self.netns, flags=0) if self.netns else AsyncIPRoute()
        try:
            await ipr.bind(groups=RTMGRP_LINK)  # link events only: the namespace's route and address churn is not ours
            seen: dict[str, Mapping[str, Any]] = {}
            async for msg in await ipr.link("dump"):
                name = msg.get("ifname")
                if name in self.devices:
                    seen[name] = msg
            if self.failing:
                log.info("tunnel links in %s readable again", self.netns or "this namespace")
            self.failing = False
            for device, egress in self.devices.items():
                self.report(reading(egress, seen.get(device), device))
            while True:  # pyroute2's get() ends after each batch of broadcasts; the socket queues the next ones
                async for msg in ipr.get():
                    event, name = msg.get("event"), msg.get("ifname")
                    if name not in self.devices or event not in (NEWLINK, DELLINK):
                        continue
                    self.report(reading(self.devices[name], msg if event == NEWLINK else None, name))
        finally:
            ipr.close()
