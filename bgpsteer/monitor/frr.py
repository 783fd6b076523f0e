"""FRR's ``show bgp ipv4 unicast json`` as the paths a core router holds per prefix (core/drift.py's CorePath).

Every path FRR lists is kept (with ADD-PATH it holds one per egress from each route server): its first next-hop,
LOCAL_PREF, validity and best-path flag.  Anything that is not that shape is a ReadError naming what was wrong."""

from __future__ import annotations

from typing import Any

import orjson

from bgpsteer.core.drift import CorePath
from bgpsteer.monitor.errors import ReadError


def parse(data: bytes) -> dict[str, list[CorePath]]:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReadError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("routes", {}), dict):
        raise ReadError("no 'routes' object: not FRR's 'show bgp ... json'")
    out: dict[str, list[CorePath]] = {}
    for prefix, paths in doc.get("routes", {}).items():
        if not isinstance(paths, list):
            raise ReadError(f"{prefix}: paths are not a list")
        out[prefix] = [_path(prefix, p) for p in paths]
    return out


def _path(prefix: str, p: Any) -> CorePath:
    if not isinstance(p, dict):
        raise ReadError(f"{prefix}: a path is not an object")
    hops = p.get("nexthops") or []
    nh = hops[0].get("ip", "") if hops and isinstance(hops[0], dict) else ""
    lp = p.get("locPrf")
    return CorePath(
        str(nh),
        int(lp) if isinstance(lp, int) else None,
        bool(p.get("bestpath")),
        bool(p.get("valid")),
        bool(p.get("stale")),
    )
