"""An interface's 64-bit octet counters by netlink (pyroute2, already bgpsteer's netlink library for tunnel links:
the kernel's own ``IFLA_STATS64``, the numbers ``ip -s link`` prints, without parsing /sys text or running a
command).  The device's ifindex is the counter's instance: a device deleted and made again starts from zero.

One netlink socket per reader, kept open between readings: opening one in another namespace costs pyroute2 a
helper process, which must not happen every interval."""

from __future__ import annotations

import errno

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from bgpsteer.core.counters import Reading
from bgpsteer.utilization.errors import ReadError


class NetlinkReader:
    def __init__(self, device: str, netns: str | None, direction: str) -> None:
        self.device, self.netns, self.direction = device, netns, direction
        self.ipr: AsyncIPRoute | None = None

    async def read(self, now: float) -> Reading:
        if self.ipr is None:
            # flags=0: open the namespace, never create it (pyroute2 would make a missing one by default)
            ipr = AsyncIPRoute(netns=self.netns, flags=0) if self.netns else AsyncIPRoute()
            try:
                await ipr.bind(groups=0)  # requests only: broadcasts subscribed to and never read pile up unbounded
            except (OSError, NetlinkError) as exc:
                ipr.close()
                where = f"namespace {self.netns}" if self.netns else "this namespace"
                raise ReadError(f"netlink in {where}: {exc}") from exc
            self.ipr = ipr
        try:
            links = list(await self.ipr.link("get", ifname=self.device))
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                raise ReadError(f"no device {self.device}") from exc
            self.close()  # a socket in trouble is opened afresh next time
            raise ReadError(f"device {self.device}: {exc}") from exc
        except OSError as exc:
            self.close()
            raise ReadError(f"netlink: {exc}") from exc
        if not links:
            raise ReadError(f"no device {self.device}")
        stats = links[0].get("stats64")
        if stats is None:
            raise ReadError(f"device {self.device} has no 64-bit counters")
        octets = stats.get("tx_bytes" if self.direction == "out" else "rx_bytes")
        return Reading(int(octets), now, instance=f"ifindex {links[0]['index']}")

    def close(self) -> None:
        if self.ipr is not None:
            self.ipr.close()
            self.ipr = None
