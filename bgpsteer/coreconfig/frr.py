"""What an FRR core router needs for bgpsteer's closed loop: for every core monitored by BMP, the ``bmp targets``
block that makes it connect to bgpsteer's station and send post-policy route monitoring (policies/README.md,
core_routers[].monitor.bmp).  FRR loads BMP only as a module: bgpd must run with ``-M bmp``."""

from __future__ import annotations

from bgpsteer.core.config import Config

TARGETS = "bgpsteer"
MIN_RETRY_MS, MAX_RETRY_MS = 1000, 10000  # how soon FRR reconnects after the station is lost, at least and most


def bmp(config: Config) -> str:
    lines: list[str] = []
    for c in config.core_routers:
        if c.monitor is None or c.monitor.bmp is None:
            continue
        b = c.monitor.bmp
        lines += [
            f"! {c.name} ({c.address}): bgpd runs with '-M bmp' (Debian: bgpd_options in /etc/frr/daemons)",
            f"router bgp {c.asn}",
            f" bmp targets {TARGETS}",
            f"  bmp connect {b.listen} port {b.port} min-retry {MIN_RETRY_MS} max-retry {MAX_RETRY_MS}",
            *(f"  bmp monitor {family} unicast post-policy" for family in c.families),
            " exit",
            "exit",
            "!",
        ]
    return "\n".join(lines) + "\n" if lines else "! no core router is monitored by BMP (core_routers[].monitor.bmp)\n"
