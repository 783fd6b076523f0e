"""``egresses[].utilization``: where an egress's load is read from its interface counters (core/counters.py)."""

from __future__ import annotations

import ipaddress

from bgpsteer.config.nodes import PORT_MAX, Cursor
from bgpsteer.config.steering_loader import IFNAMSIZ
from bgpsteer.core.model import Utilization, default

KEYS = {
    "type": True,
    "device": False,
    "netns": False,
    "host": False,
    "if_index": False,
    "port": False,
    "community": False,
    "direction": False,
    "interval": False,
    "stale_after": False,
    "timeout": False,
    "retries": False,
}
ONLY = {  # keys that mean something for one type only
    "netlink": ("netns",),
    "snmp": ("host", "if_index", "port", "community", "timeout", "retries"),
}


def utilization(cur: Cursor) -> Utilization | None:
    errors_before = len(cur.issues.items)
    m = cur.mapping(KEYS)
    if m is None or "type" not in m:
        return None
    kind = m["type"].choice(("netlink", "snmp"))
    for other, keys in ONLY.items():
        for key in keys:
            if kind is not None and kind != other and key in m:
                m[key].error(f"'{key}' has no meaning for utilization of type {kind}")
    device = m["device"].string() if "device" in m else None
    if kind == "netlink" and device is None and "device" not in m:
        cur.error("utilization of type netlink needs 'device' (the interface whose counters to read)")
    if kind == "netlink" and device and not (len(device.encode()) <= IFNAMSIZ and "/" not in device):
        m["device"].error(f"{device!r} is not a Linux interface name (1-15 bytes, no '/')")
    host = m["host"].parsed(lambda t: str(ipaddress.ip_address(t))) if "host" in m else None
    if_index = m["if_index"].integer(1, 2**31 - 1) if "if_index" in m else None
    if kind == "snmp":
        if "host" not in m:
            cur.error("utilization of type snmp needs 'host' (the SNMP agent's address)")
        if ("device" in m) == ("if_index" in m):
            cur.error("utilization of type snmp needs the interface: 'device' (its ifName) or 'if_index', one of them")
    interval = m["interval"].number(0.1) if "interval" in m else default(Utilization, "interval")
    stale = m["stale_after"].number(0.1) if "stale_after" in m else None
    if stale is not None and interval is not None and stale < interval:
        m["stale_after"].error(f"stale_after {stale:g} is shorter than interval {interval:g}: every rate is stale")
    values = {
        "port": m["port"].integer(1, PORT_MAX) if "port" in m else default(Utilization, "port"),
        "community": m["community"].string() if "community" in m else default(Utilization, "community"),
        "direction": m["direction"].choice(("out", "in")) if "direction" in m else default(Utilization, "direction"),
        "timeout": m["timeout"].number(0.01) if "timeout" in m else default(Utilization, "timeout"),
        "retries": m["retries"].integer(0, 10) if "retries" in m else default(Utilization, "retries"),
    }
    if kind is None or interval is None or None in values.values() or len(cur.issues.items) > errors_before:
        return None
    netns = m["netns"].string() if "netns" in m else None
    return Utilization(
        kind,  # type: ignore[arg-type]
        device,
        netns,
        host,
        if_index,
        interval=interval,
        stale_after=stale,
        **values,  # type: ignore[arg-type]
    )
