"""Load and validate a bgpsteer YAML file into a Config, reporting every error.

load() either returns a complete Config or raises ConfigError carrying every
issue found (file:line:column, key path, message); nothing is half-applied.
"""

from __future__ import annotations

import grp
import hashlib
import shutil
import socket
from dataclasses import replace
from pathlib import Path
from typing import TypeVar, cast

from bgpsteer.config import site_loader, steering_loader, utilization_loader
from bgpsteer.config.nodes import PORT_MAX, Cursor, Issue, Issues, load_yaml
from bgpsteer.config.policy_loader import RETURN_REFUSED, Context, Sets, load_policy, load_sets
from bgpsteer.core.attrs import U32_MAX
from bgpsteer.core.config import Config
from bgpsteer.core.family import IPV6, afi_of
from bgpsteer.core.model import AgentSettings, CloudPeer, CoreRouter, Egress, MaxPrefix, Safety, default
from bgpsteer.core.policy import Policy
from bgpsteer.core.prefix import BITS, covers, parse_address, parse_prefix
from bgpsteer.core.reconcile import READY_TIMEOUT

MIN_HOLD_TIME = 3  # seconds (RFC 4271: 0 or at least 3)
MIN_RECORDING = 1 << 20  # bytes: a few segments of the flight recorder
MD5_KEY_MAX = 80  # bytes: Linux's TCP_MD5SIG_MAXKEYLEN

TOP = {
    "agent": True,
    "safety": False,
    "egresses": True,
    "cloud_peers": True,
    "core_routers": True,
    "sets": False,
    "policy": True,
    "compliance": False,
    "steering": False,
    "classes": False,
    "site": False,
}


class ConfigError(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(f"{len(issues)} configuration error(s)")
        self.issues = issues

    def __str__(self) -> str:
        return "\n".join(str(i) for i in self.issues)


def _address(cur: Cursor, afi: int | None = None) -> str | None:
    text = cur.string()
    if text is None:
        return None
    try:
        got, _ = parse_address(text)
    except ValueError as exc:
        cur.error(str(exc))
        return None
    if afi is not None and got != afi:
        cur.error(f"expected an IPv{afi} address, got {text!r}")
        return None
    return text


def _families(cur: Cursor | None) -> tuple[str, ...] | None:
    if cur is None:
        return ("ipv4",)
    fams = [f for f in (c.choice(("ipv4", "ipv6")) for c in cur.items(allow_scalar=True)) if f]
    if len(set(fams)) != len(fams):
        cur.error("a family is listed twice")
    return tuple(dict.fromkeys(fams)) or None


def _max_prefix(cur: Cursor) -> MaxPrefix | None:
    if cur.is_null:
        return None
    m = cur.mapping({"limit": True, "action": False})
    if not m or "limit" not in m:
        return None
    limit = m["limit"].integer(1, 100_000_000)
    action = m["action"].choice(("warn", "stop", "teardown")) if "action" in m else "stop"
    if limit is None or action is None:
        return None
    return MaxPrefix(limit, action)  # type: ignore[arg-type]


def _agent(cur: Cursor) -> AgentSettings | None:
    m = cur.mapping(
        {
            "local_asn": True,
            "router_id": True,
            "local_address": False,
            "hold_time": False,
            "log_level": False,
            "state_dir": False,
            "control_socket": False,
            "control_group": False,
            "metrics": False,
            "journal_max_bytes": False,
            "record_max_bytes": False,
            "graceful_restart": False,
            "ready_timeout": False,
        }
    )
    if m is None or "local_asn" not in m or "router_id" not in m:
        return None
    asn = m["local_asn"].integer(1, 0xFFFFFFFF)
    rid = _address(m["router_id"], afi=4)
    local = _address(m["local_address"]) if "local_address" in m else None
    hold = m["hold_time"].integer(0, 65535) if "hold_time" in m else default(AgentSettings, "hold_time")
    if hold is not None and 0 < hold < MIN_HOLD_TIME:
        m["hold_time"].error("hold time must be 0 or at least 3 seconds (RFC 4271)")
        hold = None
    level = (
        m["log_level"].choice(("debug", "info", "warning", "error"))
        if "log_level" in m
        else default(AgentSettings, "log_level")
    )
    state_dir = m["state_dir"].string() if "state_dir" in m else default(AgentSettings, "state_dir")
    sock = m["control_socket"].string() if "control_socket" in m else None
    group = m["control_group"].string() if "control_group" in m else None
    metrics = _listen(m["metrics"]) if "metrics" in m and not m["metrics"].is_null else None
    jmax = (
        m["journal_max_bytes"].integer(4096, 1 << 40)
        if "journal_max_bytes" in m
        else default(AgentSettings, "journal_max_bytes")
    )
    rmax = (
        m["record_max_bytes"].integer(0, 1 << 40)
        if "record_max_bytes" in m
        else default(AgentSettings, "record_max_bytes")
    )
    if rmax is not None and 0 < rmax < MIN_RECORDING:
        m["record_max_bytes"].error(f"must be 0 (no flight recorder) or at least {MIN_RECORDING} bytes")
        rmax = None
    ready = m["ready_timeout"].integer(5, 3600) if "ready_timeout" in m else default(AgentSettings, "ready_timeout")
    # RFC 4724 carries the restart time in 12 bits; it must outlast bgpsteer's wait for cloud peers (ready_timeout)
    gr = (
        m["graceful_restart"].integer(0, 4095)
        if "graceful_restart" in m
        else default(AgentSettings, "graceful_restart")
    )
    wait = ready if ready is not None else READY_TIMEOUT
    if gr is not None and 0 < gr <= wait:
        (m.get("graceful_restart") or m["ready_timeout"]).error(
            f"graceful_restart must be 0 (off) or longer than {wait:g} s (ready_timeout), the longest bgpsteer waits "
            "for cloud peers before it sends End-of-RIB (else the core drops stale paths before they are re-announced)"
        )
        gr = None
    if None in (asn, rid, hold, level, state_dir, jmax, gr, rmax, ready):
        return None
    return AgentSettings(asn, rid, local, hold, level, state_dir, sock, group, metrics, jmax, gr, rmax, ready)  # type: ignore[arg-type]


def _password(cur: Cursor) -> str | None:
    """A TCP-MD5 key (RFC 2385): Linux takes at most 80 bytes."""
    text = cur.string()
    if text is not None and not 0 < len(text.encode()) <= MD5_KEY_MAX:
        cur.error(f"a TCP-MD5 password is 1 to 80 bytes (Linux TCP_MD5SIG_MAXKEYLEN); this one is {len(text.encode())}")
        return None
    return text


def _listen(cur: Cursor) -> str | None:
    text = cur.string()
    if text is None:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) <= PORT_MAX:
        cur.error(f"expected ADDRESS:PORT (e.g. 127.0.0.1:9474), got {text!r}")
        return None
    try:
        parse_address(host.strip("[]"))
    except ValueError as exc:
        cur.error(str(exc))
        return None
    return text


def _safety(cur: Cursor | None) -> Safety:
    if cur is None:
        return Safety()
    keys = {
        "reject_special_purpose": False,
        "reject_private": False,
        "allow_default": False,
        "max_length": False,
        "reject_martian_next_hop": False,
        "max_prefix": False,
    }
    m = cur.mapping(keys) or {}
    d = Safety()
    values: dict[str, object] = {}
    for key in ("reject_special_purpose", "reject_private", "allow_default", "reject_martian_next_hop"):
        if key in m:
            v = m[key].boolean()
            if v is not None:
                values[key] = v
    if "max_length" in m:
        ml = m["max_length"].mapping({"ipv4": False, "ipv6": False}) or {}
        if "ipv4" in ml and (v4 := ml["ipv4"].integer(8, 32)) is not None:
            values["max_length_v4"] = v4
        if "ipv6" in ml and (v6 := ml["ipv6"].integer(16, 128)) is not None:
            values["max_length_v6"] = v6
    if "max_prefix" in m:
        values["default_max_prefix"] = _max_prefix(m["max_prefix"])
    return Safety(**{**d.__dict__, **values})


K = TypeVar("K")


def _only_once(cur: Cursor, value: K | None, seen: dict[K, Cursor], message: str) -> K | None:
    """A value that must be unique among the egresses (id, path id): a repeat is an error at its place."""
    if value is not None:
        if value in seen:
            cur.error(message.format(value))
        seen[value] = cur
    return value


def _egresses(cur: Cursor, hops: dict[str, Cursor], shadow: dict[str, set[str]]) -> list[Egress]:
    """The egresses; ``hops`` gets each one's next_hop cursor (for later checks that point at it), ``shadow`` the
    names of those in error."""
    out: list[Egress] = []
    ids: dict[str, Cursor] = {}
    pids: dict[int, Cursor] = {}
    seen_hops: dict[str, str] = {}  # next-hop address -> the egress that has it
    keys = {
        "id": True,
        "region": True,
        "jurisdiction": True,
        "cost_per_gb": False,
        "next_hop": True,
        "next_hop6": False,
        "path_id": False,
        "probe": False,
        "health": False,
        "gateway": False,
        "gateway6": False,
        "capacity_mbps": False,
        "tunnel": False,
        "utilization": False,
    }
    for i, e in enumerate(cur.items()):
        m = e.mapping(keys)
        if m is None or any(k not in m for k, req in keys.items() if req):
            continue
        eid = _only_once(m["id"], m["id"].string(), ids, "duplicate egress id {!r}")
        pid = _only_once(
            m.get("path_id", e),
            m["path_id"].integer(1, U32_MAX) if "path_id" in m else i + 1,
            pids,
            "path_id {} is used by another egress",
        )
        values = (
            eid,
            m["region"].string(),
            m["jurisdiction"].string(),
            m["cost_per_gb"].number(0) if "cost_per_gb" in m else 0.0,
            _address(m["next_hop"], afi=4),
            pid,
            _address(m["next_hop6"], afi=6) if "next_hop6" in m else "",
        )
        for key, addr in (("next_hop", values[4]), ("next_hop6", values[6])):
            if addr and addr in seen_hops:
                # one next-hop route stands for one egress: failing one would leave the other's route announced
                m[key].error(f"next-hop {addr} is also egress {seen_hops[addr]!r}'s: every egress needs its own")
            elif addr:
                seen_hops[addr] = eid or "?"
        if eid is not None:
            hops[eid] = m["next_hop"]  # named, valid or not: a reference to it is not an error of its own
        probe = steering_loader.probe(m["probe"]) if "probe" in m else None
        health = steering_loader.health(m.get("health"))
        if None in values or health is None:
            # in error (reported): its names still count as written, so references to them are not errors too
            for key, value in (("egress", values[0]), ("egress_region", values[1]), ("jurisdiction", values[2])):
                if isinstance(value, str):
                    shadow.setdefault(key, set()).add(value)
        else:
            gw = _address(m["gateway"], afi=4) if "gateway" in m else "self"
            gw6 = _address(m["gateway6"], afi=6) if "gateway6" in m else "self"
            out.append(
                Egress(
                    *cast("tuple[str, str, str, float, str, int]", values[:6]),
                    next_hop6=values[6] or None,
                    probe=probe,
                    health=health,
                    gateway=gw or "self",
                    gateway6=gw6 or "self",
                    capacity_mbps=m["capacity_mbps"].number(0.001) if "capacity_mbps" in m else None,
                    tunnel=steering_loader.tunnel(m["tunnel"]) if "tunnel" in m else None,
                    utilization=utilization_loader.utilization(m["utilization"]) if "utilization" in m else None,
                )
            )
            if "utilization" in m and "capacity_mbps" not in m:
                m["utilization"].error("utilization is read against capacity_mbps: give the egress's capacity_mbps")
    if not out and not cur.issues:
        cur.error("at least one egress is required")
    return out


def _peers(
    cur: Cursor, egresses: dict[str, Egress], local_asn: int | None, named: set[str], shadow: dict[str, set[str]]
) -> list[CloudPeer]:
    """``named``: every egress id written in the config, including those with errors (already reported: a peer
    that refers to one is not reported again)."""
    out: list[CloudPeer] = []
    keys = {
        "name": True,
        "address": True,
        "asn": True,
        "egress": True,
        "provider": True,
        "region": True,
        "families": False,
        "local_address": False,
        "password": False,
        "max_prefix": False,
        "description": False,
        "cloud": False,
        "max_routes": False,
        "hold_time": False,
        "ttl_security": False,
    }
    for p in cur.items():
        m = p.mapping(keys)
        if m is None or any(k not in m for k, req in keys.items() if req):
            continue
        asn = m["asn"].integer(1, 0xFFFFFFFF)
        if asn is not None and asn == local_asn:
            m["asn"].error("cloud peers are eBGP neighbours: asn must differ from agent.local_asn")
        egress = m["egress"].string()
        if egress is not None and egress not in egresses:
            if egress not in named:  # else the egress has errors of its own: the root cause, reported there
                m["egress"].error(f"undefined egress {egress!r}; defined: {', '.join(sorted(egresses)) or 'none'}")
            egress = None
        fams = _families(m.get("families"))
        facts = site_loader.peer_facts(m, local_asn)
        values = (
            m["name"].string(),
            _address(m["address"]),
            asn,
            egress,
            m["provider"].string(),
            m["region"].string(),
            fams,
        )
        if fams and "ipv6" in fams and egress in egresses and egresses[egress].next_hop6 is None:
            m["families"].error(f"family ipv6 needs egress {egress!r} to have a next_hop6")
        if None in values:
            for key, value in (("peer", values[0]), ("provider", values[4]), ("region", values[5])):
                if isinstance(value, str):
                    shadow.setdefault(key, set()).add(value)
            continue
        out.append(
            CloudPeer(
                *values,  # type: ignore[arg-type]
                local_address=_address(m["local_address"]) if "local_address" in m else None,
                password=_password(m["password"]) if "password" in m else None,
                max_prefix=_max_prefix(m["max_prefix"]) if "max_prefix" in m else None,
                description=(m["description"].string() or "") if "description" in m else "",
                **facts,  # type: ignore[arg-type]
            )
        )
    return out


def _cores(cur: Cursor, local_asn: int | None, class_refs: list[tuple[Cursor, str]]) -> list[CoreRouter]:
    out: list[CoreRouter] = []
    keys = {
        "name": True,
        "address": True,
        "asn": True,
        "families": False,
        "local_address": False,
        "password": False,
        "class": False,
        "ttl_security": False,
        "monitor": False,
    }
    for c in cur.items():
        m = c.mapping(keys)
        if m is None or any(k not in m for k, req in keys.items() if req):
            continue
        asn = m["asn"].integer(1, 0xFFFFFFFF)
        if asn is not None and local_asn is not None and asn != local_asn:
            m["asn"].error(
                "core routers must be iBGP neighbours (asn equal to agent.local_asn): LOCAL_PREF, "
                "which carries the egress ranking, is only sent over iBGP"
            )
        values = (m["name"].string(), _address(m["address"]), asn, _families(m.get("families")))
        if None in values:
            continue
        out.append(
            CoreRouter(
                *values,  # type: ignore[arg-type]
                local_address=_address(m["local_address"]) if "local_address" in m else None,
                password=_password(m["password"]) if "password" in m else None,
                app_class=m["class"].string() if "class" in m else None,
                ttl_security=site_loader.ttl_security(m["ttl_security"]) if "ttl_security" in m else None,
                monitor=steering_loader.monitor(m["monitor"]) if "monitor" in m else None,
            )
        )
        if "class" in m:
            class_refs.append((m["class"], out[-1].app_class or ""))
    if not out and not cur.issues:
        cur.error("at least one core router is required")
    return out


def _monitor_warnings(cores: list[CoreRouter], filename: str) -> list[str]:
    """A monitor source that cannot work on this machine: the CLI's command is not here, or the BMP station's
    address is not one of this machine's (the agent reports such a core as unreadable, never drifting)."""
    out = []
    for i, c in enumerate(cores):
        m = c.monitor
        if m is None:
            continue
        where = f"{filename}: core_routers[{i}].monitor"
        if m.cli is not None and shutil.which(m.command[0]) is None:
            out.append(f"{where}.command: {m.command[0]!r} is not on this machine: the core cannot be read by its CLI")
        if m.bmp is not None:
            family = socket.AF_INET6 if ":" in m.bmp.listen else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind((m.bmp.listen, 0))
                except OSError as exc:
                    out.append(
                        f"{where}.bmp.listen: cannot listen on {m.bmp.listen} here ({exc.strerror}): the BMP station "
                        "cannot start on this machine"
                    )
    return out


def _unique(issues: Issues, root: Cursor, items: list[tuple[str, str, str]]) -> None:
    """items: (kind, value, where) -- report values used twice across sections."""
    seen: dict[str, str] = {}
    for kind, value, where in items:
        if value in seen:
            issues.add(root.node, where, f"{kind} {value!r} is also used by {seen[value]}")
        else:
            seen[value] = where


def digest(text: str) -> str:
    """A config's identity: what `check`, metrics and the flight recorder name it by."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse(text: str, filename: str = "<config>") -> Config:
    return parse_with(text, Issues(filename))


def parse_with(text: str, issues: Issues) -> Config:
    """parse(), collecting into the given Issues (which may carry a recorder: config/schema.py)."""
    filename = issues.file
    node = load_yaml(text, filename, issues)
    if issues:
        raise ConfigError(issues.sorted())
    root = Cursor(node, "", issues)
    top = root.mapping(TOP)
    if top is None or any(k not in top for k, req in TOP.items() if req):
        raise ConfigError(issues.sorted())
    agent = _agent(top["agent"])
    safety = _safety(top.get("safety"))
    hops: dict[str, Cursor] = {}
    shadow: dict[str, set[str]] = {}  # names written for egresses and peers in error (their errors are the root cause)
    egresses = _egresses(top["egresses"], hops, shadow)
    by_id = {e.id: e for e in egresses}
    peers = _peers(top["cloud_peers"], by_id, agent.local_asn if agent else None, set(hops), shadow)
    class_refs: list[tuple[Cursor, str]] = []
    cores = _cores(top["core_routers"], agent.local_asn if agent else None, class_refs)
    _unique(
        issues,
        root,
        [("name", p.name, f"cloud_peers[{i}].name") for i, p in enumerate(peers)]
        + [("name", c.name, f"core_routers[{i}].name") for i, c in enumerate(cores)],
    )
    _unique(
        issues,
        root,
        [("address", p.address, f"cloud_peers[{i}].address") for i, p in enumerate(peers)]
        + [("address", c.address, f"core_routers[{i}].address") for i, c in enumerate(cores)],
    )
    _unique(
        issues,
        root,
        [
            ("BMP station", f"{c.monitor.bmp.listen} port {c.monitor.bmp.port}", f"core_routers[{i}].monitor.bmp")
            for i, c in enumerate(cores)
            if c.monitor is not None and c.monitor.bmp is not None
        ],  # a BMP connection tells nothing of which core it is from but the station it reaches
    )
    _gateways_reachable(issues, egresses, cores, hops)
    sets = load_sets(top["sets"]) if "sets" in top else Sets()
    warnings = _next_hops_in_sets(egresses, sets, hops)
    if agent is not None and agent.control_group:
        try:
            grp.getgrnam(agent.control_group)
        except KeyError:
            warnings.append(
                f"{filename}: agent.control_group: group {agent.control_group!r} does not exist on this machine: "
                "the control socket will be root-only (mode 0600) until it does"
            )
    steer = steering_loader.steering(top.get("steering"), egresses, sets)
    room = max(0, len(egresses) - 1) if steer.cost_tiebreak else 0
    ctx = Context(sets, tuple(peers), tuple(egresses), agent.local_asn if agent else 0, shadow, room)
    pol = top["policy"].mapping({"import": True, "export": True, "return": False})
    import_policy = export_policy = Policy("none", [], "reject")
    return_policy = None
    if pol and "import" in pol and "export" in pol:
        import_policy = load_policy(pol["import"], "import", ctx)
        export_policy = load_policy(pol["export"], "export", ctx)
    if pol and "return" in pol:
        return_policy = load_policy(pol["return"], "return", replace(ctx, refused=RETURN_REFUSED))
    # with an egress in error, its jurisdiction is unknown: do not report rules naming it as a second error
    rules = (
        steering_loader.compliance(top["compliance"], sets, egresses, complete=set(hops) <= set(by_id))
        if "compliance" in top
        else []
    )
    classes = steering_loader.app_classes(top["classes"], sets, egresses) if "classes" in top else []
    site = site_loader.site(top.get("site"), {p.group for p in peers}, sets, tuple(cores))
    warnings += site_loader.site_warnings(site, peers, filename)
    warnings += _monitor_warnings(cores, filename)
    if return_policy is not None and site is None:
        warnings.append(f"{filename}: policy.return: no site is announced to the clouds, so it applies to nothing")
    defined = {c.name for c in classes}
    for ref, name in class_refs:
        if name and name not in defined:
            ref.error(f"undefined class {name!r}; defined: {', '.join(sorted(defined)) or 'none'}")
    if issues or agent is None:
        raise ConfigError(issues.sorted())
    return Config(
        agent=agent,
        egresses=tuple(egresses),
        cloud_peers=tuple(peers),
        core_routers=tuple(cores),
        import_policy=import_policy,
        export_policy=export_policy,
        safety=safety,
        compliance=tuple(rules),
        steering=steer,
        app_classes=tuple(classes),
        site=site,
        return_policy=return_policy,
        source=filename,
        digest=digest(text),
        warnings=tuple(warnings),
    )


def _gateways_reachable(
    issues: Issues, egresses: list[Egress], cores: list[CoreRouter], hops: dict[str, Cursor]
) -> None:
    """``gateway6: self`` means ExaBGP's "next-hop self": the session's own address.  ExaBGP refuses an IPv6 route
    with next-hop self over an IPv4 session (MP-BGP): every IPv6 next-hop route would never reach the core while
    the egress shows in service.  (An IPv4 route over an IPv6 session gets ExaBGP's router id instead.)"""
    told: set[str] = set()  # egresses told already, whichever core router needs it
    for c in cores:
        if afi_of(c.address) == IPV6 or "ipv6" not in c.families:
            continue
        for i, e in enumerate(egresses):
            if e.next_hop6 and e.gateway6 == "self" and e.id not in told:
                told.add(e.id)
                cur = hops.get(e.id)
                issues.add(
                    cur.node if cur is not None else None,
                    f"egresses[{i}].gateway6",
                    f"core router {c.name!r} carries ipv6 over an IPv4 session ({c.address}), where ExaBGP refuses "
                    "'next-hop self' for IPv6 routes: set gateway6 to an IPv6 address of this route server that the "
                    "core "
                    f"reaches (or give {c.name!r} an IPv6 session of its own)",
                )


def _next_hops_in_sets(egresses: list[Egress], sets: Sets, hops: dict[str, Cursor]) -> list[str]:
    """Warnings: an egress next-hop inside a prefix set's ranges.  Import safety rejects every cloud route that covers
    a next-hop (it would keep the next-hop resolvable after bgpsteer withdraws its route), so a policy that expects
    such routes from a cloud silently gets none of them."""
    out: list[str] = []
    for e in egresses:
        for addr, afi in ((e.next_hop, 4), (e.next_hop6, 6)):
            if not addr:
                continue
            host = parse_prefix(f"{addr}/{BITS[afi]}")
            for name, pset in sorted(sets.prefix.items()):
                for r in pset.ranges:
                    if r.prefix[0] == afi and covers(r.prefix, host):
                        cur = hops.get(e.id)
                        where = (
                            f"{cur.issues.file}:{cur.node.start_mark.line + 1}"
                            if cur is not None and cur.node is not None
                            else e.id
                        )
                        out.append(
                            f"{where}: egresses: next-hop {addr} of egress {e.id!r} lies inside {r} of prefix set "
                            f"{name!r}: cloud routes covering it are refused by import safety (they would keep the "
                            "next-hop "
                            "resolvable after its route is withdrawn); use a next-hop outside the cloud prefixes"
                        )
                        break
    return out


def load(path: str | Path) -> Config:
    return load_text(path)[0]


def load_text(path: str | Path) -> tuple[Config, str]:
    """The config and the text it was parsed from (the flight recorder keeps that text)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Issue(str(p), 1, 1, "", f"cannot read file: {exc}")]) from exc
    return parse(text, str(p)), text
