"""The return path's configuration: ``site`` (what is announced to the clouds) and each cloud peer's provider
facts (core/providers.py) checked against the config, every problem named with its file, line and key."""

from __future__ import annotations

from yaml.nodes import ScalarNode

from bgpsteer.config.nodes import Cursor, scalar_value
from bgpsteer.config.policy_loader import Sets
from bgpsteer.core.attrs import parse_community
from bgpsteer.core.model import CloudPeer, CoreRouter, Site, SiteLearn, default
from bgpsteer.core.prefix import format_prefix, parse_prefix
from bgpsteer.core.providers import Provider, inside_problem, profile
from bgpsteer.core.returnpath import limit

MED_MAX = 0xFFFFFFFF
PREPEND_MAX = 10  # more says nothing more to any gateway, and long AS paths are dropped by some
HOLD_MIN = 3  # RFC 4271: 0 or at least 3
LEARN_MAX = 4000  # Azure's limit, the highest of the providers' (core/providers.py)


def site(
    cur: Cursor | None, clouds_known: set[str], sets: Sets | None = None, cores: tuple[CoreRouter, ...] = ()
) -> Site | None:
    """``clouds_known``: the clouds the cloud peers form (``CloudPeer.group``), which ``site.clouds`` may name;
    ``sets`` and ``cores``: what ``site.learn`` may name."""
    if cur is None:
        return None
    keys = {
        "prefixes": False,
        "preferred_med": False,
        "backup_med": False,
        "prepend": False,
        "split": False,
        "communities": False,
        "clouds": False,
        "learn": False,
    }
    m = cur.mapping(keys)
    if m is None:
        return None
    learn = _learn(m["learn"], sets or Sets(), cores) if "learn" in m else None
    if "prefixes" not in m and "learn" not in m:
        cur.error("needs prefixes, learn, or both: the site's prefixes to announce to the clouds")
        return None
    prefixes = _prefixes(m["prefixes"]) if "prefixes" in m else []
    preferred = m["preferred_med"].integer(0, MED_MAX) if "preferred_med" in m else default(Site, "preferred_med")
    backup = m["backup_med"].integer(0, MED_MAX) if "backup_med" in m else default(Site, "backup_med")
    if preferred is not None and backup is not None and backup <= preferred:
        (m.get("backup_med") or m["preferred_med"]).error(
            f"backup_med ({backup}) must be higher than preferred_med ({preferred}): lower MED wins"
        )
    prepend = m["prepend"].integer(1, PREPEND_MAX) if "prepend" in m else default(Site, "prepend")
    split = m["split"].boolean() if "split" in m else default(Site, "split")
    communities = tuple(
        c
        for item in (m["communities"].items(allow_scalar=True) if "communities" in m else ())
        if (c := item.parsed(parse_community))
    )
    clouds: list[str] = []
    for item in m["clouds"].items(allow_scalar=True) if "clouds" in m else ():
        name = item.string()
        if name is not None and name not in clouds_known:
            item.error(f"undefined cloud {name!r}; defined: {', '.join(sorted(clouds_known)) or 'none'}")
        elif name is not None:
            clouds.append(name)
    if None in (preferred, backup, prepend, split) or ("learn" in m and learn is None):
        return None
    return Site(
        tuple(prefixes), preferred or 0, backup or 0, prepend or 0, bool(split), communities, tuple(clouds), learn
    )


def _prefixes(cur: Cursor) -> list[str]:
    prefixes: list[str] = []
    for item in cur.items():
        parsed = item.parsed(parse_prefix)
        if parsed is None:
            continue
        text = format_prefix(parsed)
        if text in prefixes:
            item.error(f"{text} is listed twice")
            continue
        prefixes.append(text)
    if not prefixes and not cur.issues:
        cur.error("at least one site prefix is required (or leave it out and learn them: site.learn)")
    return prefixes


def _learn(cur: Cursor, sets: Sets, cores: tuple[CoreRouter, ...]) -> SiteLearn | None:
    """``site.learn``: the core routers' routes taken as site prefixes (core/sitelearn.py)."""
    m = cur.mapping({"prefix": True, "from": False, "community": False, "max": False, "hold": False})
    if m is None or "prefix" not in m:
        return None
    ok = True
    name = m["prefix"].string()
    prefix_set = sets.prefix.get(name) if name is not None else None
    if name is not None and prefix_set is None:
        m["prefix"].error(
            f"undefined prefix set {name!r}"
            + (f"; defined: {', '.join(sorted(sets.prefix))}" if sets.prefix else "; none are defined under sets")
        )
    elif prefix_set is not None and any(r.prefix[2] == 0 for r in prefix_set.ranges):
        m["prefix"].error(f"prefix set {name!r} holds a default route range: the site would be the whole Internet")
        ok = False
    communities: frozenset[tuple[int, int]] = frozenset()
    community_set = ""
    if "community" in m and (cname := m["community"].string()) is not None:
        if cname not in sets.community:
            m["community"].error(
                f"undefined community set {cname!r}"
                + (f"; defined: {', '.join(sorted(sets.community))}" if sets.community else "")
            )
            ok = False
        else:
            communities, community_set = sets.community[cname], cname
    known = {c.name for c in cores}
    routers: list[str] = []
    for item in m["from"].items(allow_scalar=True) if "from" in m else ():
        router = item.string()
        if router is not None and router not in known:
            item.error(f"no core router named {router!r}; known: {', '.join(sorted(known)) or 'none'}")
            ok = False
        elif router is not None:
            routers.append(router)
    if not cores:
        cur.error("no core_routers to learn from")
        ok = False
    top = m["max"].integer(1, LEARN_MAX) if "max" in m else default(SiteLearn, "max")
    hold = m["hold"].number(0) if "hold" in m else default(SiteLearn, "hold")
    if prefix_set is None or top is None or hold is None or not ok:
        return None
    return SiteLearn(prefix_set, tuple(routers), communities, community_set, top, hold)


def peer_facts(m: dict[str, Cursor], local_asn: int | None) -> dict[str, object]:
    """A cloud peer's provider-bound keys (cloud, max_routes, ttl_security, hold_time), checked against its
    provider's facts."""
    out: dict[str, object] = {}
    provider_name = m["provider"].string() if "provider" in m else None
    if provider_name is None:
        return out
    p = profile(provider_name)  # a name of its own gets the generic profile (policies may still match on it)
    if local_asn is not None and local_asn in p.reserved_asns:
        m["provider"].error(
            f"agent.local_asn {local_asn} is reserved by {p.name} for itself: "
            f"use none of {', '.join(map(str, sorted(p.reserved_asns)))}"
        )
    for key in ("address", "local_address"):
        if key in m and (text := m[key].string()) is not None and (why := inside_problem(p, text)):
            m[key].error(why)
    if "cloud" in m and (name := m["cloud"].string()) is not None:
        out["cloud"] = name
    if "max_routes" in m:
        top = p.max_routes
        n = m["max_routes"].integer(1, top)
        if n is not None:
            out["max_routes"] = n
    out.update(_session_facts(m, p))
    return out


def _session_facts(m: dict[str, Cursor], p: Provider) -> dict[str, object]:
    """A cloud session's TTL security and hold time, checked against what its provider does."""
    out: dict[str, object] = {}
    if "ttl_security" in m:
        hops = ttl_security(m["ttl_security"])
        if hops is not None and not p.gtsm:
            m["ttl_security"].error(
                f"{p.name} does not document TTL security (GTSM, RFC 5082) on its VPN BGP sessions: it would send "
                "with its default TTL, which GTSM drops, and the session would never come up"
            )
        elif hops is not None:
            out["ttl_security"] = hops
    if "hold_time" in m:
        hold = m["hold_time"].integer(0, 65535)
        if hold is not None and 0 < hold < HOLD_MIN:
            m["hold_time"].error(f"{hold}: a hold time is 0 or at least {HOLD_MIN} seconds (RFC 4271)")
        elif hold is not None and p.fixed_timers and hold != p.hold_time:
            m["hold_time"].error(f"{p.name} uses a hold time of {p.hold_time} s and does not negotiate another")
        elif hold is not None:
            out["hold_time"] = hold
    return out


GTSM_HOPS = 254  # RFC 5082: the peer sends with TTL 255; we accept down to 256 - hops (at least 2)


def ttl_security(cur: Cursor) -> int | None:
    """``ttl_security`` of a session: ``true`` (a directly connected peer: 1 hop), ``false``, or the most hops
    away the peer may be."""
    cur.accepts({"type": "boolean"})
    if isinstance(cur.node, ScalarNode) and isinstance(scalar_value(cur.node), bool):
        return 1 if cur.boolean() else None
    return cur.integer(1, GTSM_HOPS)


def site_warnings(s: Site | None, peers: list[CloudPeer], filename: str) -> list[str]:
    """Valid but probably not meant: more site prefixes than a session may carry."""
    out: list[str] = []
    if s is None:
        return out
    for p in peers:
        cap = limit(p)
        if cap is not None and len(s.prefixes) > cap:
            out.append(
                f"{filename}: site.prefixes: {len(s.prefixes)} prefixes, but cloud peer {p.name} takes at most "
                f"{cap} routes: the last {len(s.prefixes) - cap} are never announced to it"
            )
        elif cap is not None and s.learn is not None and len(s.prefixes) + s.learn.max > cap:
            out.append(
                f"{filename}: site.learn.max: up to {len(s.prefixes)} + {s.learn.max} site prefixes, but cloud peer "
                f"{p.name} takes at most {cap} routes: learned prefixes past {cap - len(s.prefixes)} are not "
                "announced to it"
            )
    return out
