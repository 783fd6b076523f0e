"""BIRD 2's ``show route all`` (birdc, one table) as the paths a core router holds per prefix (core/drift.py's
CorePath).  Measured on Debian's BIRD 2.0.12 (tests/unit/data/bird-2.0.12-*.txt):

- a route's first line is ``PREFIX DEST [PROTOCOL TIME from ADDRESS] * (PREF/METRIC) [AS_PATH ORIGIN]``; a further
  path of the same prefix repeats the line without the prefix; indented lines follow with its attributes;
- ``*`` marks the path BIRD uses (``!``: used, but the kernel has not taken it);
- DEST is ``unicast`` when the next hop resolves; an iBGP path whose next hop does not resolve is ``unreachable``
  (and is still used if it is the only one);
- only ``Type: BGP`` paths count (direct, kernel and static routes are not a route server's);
- BIRD's CLI does not show that a path is stale (kept by graceful restart): this source cannot find stale paths
  (policies/README.md, core_routers[].monitor).

The table must be one: ``show route all table master4`` (the default command); several tables in one reading
would mix their paths, so that is an error."""

from __future__ import annotations

import re

from bgpsteer.core.drift import CorePath
from bgpsteer.monitor.errors import ReadError

ROUTE = re.compile(r"^(?P<prefix>\S+)?\s+(?P<dest>[a-z]+) \[(?P<proto>\S+) [^\]]*\](?P<mark> [*!])?")
BANNERS = ("Access restricted",)  # birdc -r says so before the table
VALID = ("unicast",)  # dests a path can forward by; unreachable, blackhole, prohibited cannot


def parse(data: bytes) -> dict[str, list[CorePath]]:
    text = data.decode(errors="replace")
    out: dict[str, list[CorePath]] = {}
    tables = 0
    prefix = ""
    path: dict[str, str] | None = None

    def done() -> None:
        if path is not None and path.get("type", "").startswith("BGP"):
            out.setdefault(path["prefix"], []).append(_path(path))

    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line in BANNERS or (line.startswith("BIRD ") and n == 1):
            continue
        if line.startswith("Table "):
            tables += 1
            if tables > 1:
                raise ReadError(f"line {n}: a second table ({line.strip()}): give one with 'table NAME'")
            continue
        if line.startswith("\t"):
            if path is None:
                raise ReadError(f"line {n}: an attribute before any route: not BIRD's 'show route all'")
            key, _, value = line.strip().partition(": ")
            path[{"Type": "type", "BGP.next_hop": "next_hop", "BGP.local_pref": "local_pref"}.get(key, "")] = value
            continue
        m = ROUTE.match(line)
        if m is None:
            raise ReadError(f"line {n}: not a route of BIRD's 'show route all': {line.strip()[:80]!r}")
        done()
        prefix = m["prefix"] or prefix
        if not prefix:
            raise ReadError(f"line {n}: a path without a prefix before it")
        path = {"prefix": prefix, "dest": m["dest"], "best": "y" if m["mark"] else ""}
    done()
    if tables == 0 and out:
        raise ReadError("no 'Table' line: not BIRD's 'show route all'")
    return out


def _path(p: dict[str, str]) -> CorePath:
    lp = p.get("local_pref", "")
    nh = p.get("next_hop", "").split()  # an IPv6 next hop may be global and link-local: the global one first
    if not lp.isdigit() and lp:
        raise ReadError(f"{p['prefix']}: BGP.local_pref {lp!r} is not a number")
    return CorePath(nh[0] if nh else "", int(lp) if lp else None, bool(p["best"]), p["dest"] in VALID)
