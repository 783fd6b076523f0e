"""The test file: cases of routes, egress states and expected outcomes, read with file:line errors (all at once).

cases:
  - name: AWS prefixes leave through fra
    route: {peer: aws-tgw-fra, prefix: 10.10.1.0/24}          # as_path defaults to [the peer's AS]
    also: [{peer: gcp-cr-ams}]                                 # more candidates for the same prefix
    egresses: {fra: down}                                      # or drained
    class: realtime                                            # as that class's sessions see it
    expect:
      accepted: true                                           # the route itself, after import
      reason: "too specific"                                   # a substring of its import reason
      statement: aws-direct-via-fra                            # an import statement it matched
      local_pref: 200                                          # its path as announced to the core
      med: 10
      communities: ["65000:100"]
      large_communities: ["65000:1:1"]
      egress: fra                                              # where the core sends the prefix (null: nowhere)
      ranking: [fra, ams]                                      # the core's order, usable paths first
      not_via: [lon]                                           # egresses never announced (compliance)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bgpsteer.config.loader import ConfigError
from bgpsteer.config.nodes import Cursor, Issues, load_yaml
from bgpsteer.core.attrs import parse_community, parse_large_community
from bgpsteer.core.config import Config
from bgpsteer.core.prefix import parse_prefix

ROUTE_KEYS = {
    "peer": True,
    "prefix": False,
    "as_path": False,
    "origin": False,
    "med": False,
    "communities": False,
    "large_communities": False,
    "next_hop": False,
}
EXPECT_KEYS = {
    "accepted": False,
    "reason": False,
    "statement": False,
    "local_pref": False,
    "med": False,
    "communities": False,
    "large_communities": False,
    "egress": False,
    "ranking": False,
    "not_via": False,
}


@dataclass(frozen=True)
class Route:
    peer: str
    prefix: str
    as_path: tuple[int, ...] | None = None
    origin: str = "igp"
    med: int | None = None
    communities: tuple[tuple[int, int], ...] = ()
    large_communities: tuple[tuple[int, int, int], ...] = ()
    next_hop: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    line: int
    route: Route
    also: tuple[Route, ...] = ()
    egresses: dict[str, str] = field(default_factory=dict)  # egress -> down | drained
    app_class: str | None = None
    expect: dict[str, Any] = field(default_factory=dict)


def load_cases(text: str, filename: str, config: Config) -> list[Case]:
    issues = Issues(filename)
    node = load_yaml(text, filename, issues)
    if issues:
        raise ConfigError(issues.sorted())
    top = Cursor(node, "", issues).mapping({"cases": True})
    out: list[Case] = []
    if top is not None and "cases" in top:
        peers = {p.name for p in config.cloud_peers}
        egresses = set(config.egress_ids())
        classes = {c.name for c in config.app_classes}
        names: set[str] = set()
        for c in top["cases"].items():
            case = _case(c, peers, egresses, classes, names)
            if case is not None:
                out.append(case)
    if issues:
        raise ConfigError(issues.sorted())
    return out


def _case(c: Cursor, peers: set[str], egresses: set[str], classes: set[str], names: set[str]) -> Case | None:
    m = c.mapping({"name": True, "route": True, "also": False, "egresses": False, "class": False, "expect": True})
    if m is None or "name" not in m or "route" not in m or "expect" not in m:
        return None
    name = m["name"].string()
    if name in names:
        m["name"].error(f"duplicate case name {name!r}")
    names.add(name or "")
    route = _route(m["route"], peers, None)
    also = [_route(a, peers, route.prefix if route else None) for a in m["also"].items()] if "also" in m else []
    states: dict[str, str] = {}
    if "egresses" in m:
        for key, cur in (m["egresses"].mapping(dict.fromkeys(sorted(egresses), False)) or {}).items():
            state = cur.choice(("down", "drained"))
            if state:
                states[key] = state
    cls = m["class"].choice(tuple(sorted(classes))) if "class" in m else None
    expect = _expect(m["expect"], egresses)
    if name is None or route is None or None in also or expect is None:
        return None
    line = c.node.start_mark.line + 1 if c.node is not None else 0
    return Case(name, line, route, tuple(a for a in also if a), states, cls, expect)


def _route(cur: Cursor, peers: set[str], prefix: str | None) -> Route | None:
    m = cur.mapping(ROUTE_KEYS | ({"prefix": prefix is None} if prefix is None else {}))
    if m is None or "peer" not in m:
        return None
    peer = m["peer"].choice(tuple(sorted(peers)))
    p = m["prefix"].parsed(_prefix) if "prefix" in m else prefix
    if p is None and "prefix" not in m:
        cur.error("a route needs a prefix")
    path = tuple(x.integer(1, 0xFFFFFFFF) for x in m["as_path"].items()) if "as_path" in m else None
    comms = tuple(x.parsed(parse_community) for x in m["communities"].items()) if "communities" in m else ()
    large = (
        tuple(x.parsed(parse_large_community) for x in m["large_communities"].items())
        if "large_communities" in m
        else ()
    )
    origin = m["origin"].choice(("igp", "egp", "incomplete")) if "origin" in m else "igp"
    med = m["med"].integer(0, 0xFFFFFFFF) if "med" in m else None
    nh = m["next_hop"].string() if "next_hop" in m else None
    if peer is None or p is None or origin is None or (path and None in path) or None in comms or None in large:
        return None
    return Route(
        peer,
        p,
        tuple(x for x in path if x is not None) if path is not None else None,
        origin,
        med,
        tuple(x for x in comms if x is not None),
        tuple(x for x in large if x is not None),
        nh,
    )


def _prefix(text: str) -> str:
    parse_prefix(text)
    return text


def _expect(cur: Cursor, egresses: set[str]) -> dict[str, Any] | None:
    m = cur.mapping(EXPECT_KEYS)
    if m is None:
        return None
    if not m:
        cur.error("expect at least one outcome")
        return None
    out: dict[str, Any] = {}
    for key, c in m.items():
        if key == "accepted":
            out[key] = c.boolean()
        elif key in ("reason", "statement"):
            out[key] = c.string()
        elif key in ("local_pref", "med"):
            out[key] = c.integer(0, 0xFFFFFFFF)
        elif key == "communities":
            out[key] = sorted(x for x in (i.parsed(parse_community) for i in c.items()) if x is not None)
        elif key == "large_communities":
            out[key] = sorted(x for x in (i.parsed(parse_large_community) for i in c.items()) if x is not None)
        elif key == "egress":
            out[key] = None if c.is_null else c.choice(tuple(sorted(egresses)))
        else:  # ranking, not_via
            out[key] = [i.choice(tuple(sorted(egresses))) for i in c.items()]
    return out
