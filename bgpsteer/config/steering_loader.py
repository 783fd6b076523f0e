"""Config sections for steering: egress probes and health, compliance, fail static."""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import cast

from bgpsteer.config.nodes import PORT_MAX, Cursor
from bgpsteer.config.policy_loader import Sets
from bgpsteer.core.model import (
    CLI_COMMANDS,
    AppClass,
    BmpStation,
    Compliance,
    CoreMonitor,
    Dampening,
    Egress,
    FlowExporter,
    Flows,
    Health,
    MoveBudget,
    Multipath,
    MultipathWeights,
    Objective,
    Probe,
    Relief,
    Steering,
    Tunnel,
    default,
)
from bgpsteer.core.prefix import format_prefix, parse_address
from bgpsteer.core.sla import MIN_LOSSES

PROBE_KEYS = {
    "type": True,
    "targets": True,
    "port": False,
    "interval": False,
    "timeout": False,
    "source": False,
    "device": False,
    "netns": False,
    "min_up": False,
    "window": False,
    "http_path": False,
}
MAX_TARGETS = 16  # per egress: probe traffic is bounded
PERCENT = 100
MIN_INTERVAL = 0.05  # probe traffic is bounded in rate: at most 20 rounds/s per egress


def probe(cur: Cursor) -> Probe | None:
    m = cur.mapping(PROBE_KEYS)
    if m is None or any(k not in m for k, req in PROBE_KEYS.items() if req):
        return None
    kind = m["type"].choice(("icmp", "tcp", "udp", "http", "external"))
    targets = [t for t in (c.string() for c in m["targets"].items(allow_scalar=True)) if t]
    if not targets and not m["targets"].issues:
        m["targets"].error("at least one probe target is required")
    if len(targets) > MAX_TARGETS:
        m["targets"].error("at most 16 targets per egress (probe traffic is bounded)")
    port = m["port"].integer(1, 65535) if "port" in m else None  # http: 80, or 443 for https:// targets
    if kind in ("tcp", "udp") and port is None and "port" not in m:
        cur.error(f"probe type {kind} needs a port")
    interval = m["interval"].number(MIN_INTERVAL) if "interval" in m else default(Probe, "interval")
    timeout = (
        m["timeout"].number(0.001)
        if "timeout" in m
        else min(default(Probe, "timeout"), interval or default(Probe, "interval"))
    )
    if interval is not None and timeout is not None and timeout > interval:
        m["timeout"].error(f"timeout {timeout:g}s is longer than the interval {interval:g}s: rounds would overlap")
    source = None
    if "source" in m and (text := m["source"].string()) is not None:
        try:
            parse_address(text)
            source = text
        except ValueError as exc:
            m["source"].error(str(exc))
    device = m["device"].string() if "device" in m else None
    netns = m["netns"].string() if "netns" in m else None
    min_up = m["min_up"].integer(1, 16) if "min_up" in m else default(Probe, "min_up")
    if min_up is not None and targets and min_up > len(targets):
        m["min_up"].error(f"min_up {min_up} is more than the {len(targets)} target(s)")
    window = m["window"].integer(1, 10000) if "window" in m else default(Probe, "window")
    path = m["http_path"].string() if "http_path" in m else default(Probe, "http_path")
    if None in (kind, interval, timeout, min_up, window, path) or not targets:
        return None
    return Probe(kind, tuple(targets), port, interval, timeout, source, device, netns, min_up, window, path)  # type: ignore[arg-type]


TUNNEL_KEYS = {
    "type": True,
    "device": False,
    "ike": False,
    "child": False,
    "vici": False,
    "peer": False,
    "netns": False,
    "interval": False,
    "reject_after": False,
    "key_max_age": False,
}
IFNAMSIZ = 15  # Linux interface names: at most 15 bytes
WG_KEY = re.compile(r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")  # a Curve25519 key, base64 (32 bytes)


def tunnel(cur: Cursor) -> Tunnel | None:
    """``egresses[].tunnel``: the egress's encrypted tunnel (core/tunnel.py)."""
    errors_before = len(cur.issues.items)
    m = cur.mapping(TUNNEL_KEYS)
    if m is None or any(k not in m for k, req in TUNNEL_KEYS.items() if req):
        return None
    kind = m["type"].choice(("interface", "wireguard", "ipsec"))
    needs, others = ("ike", ("device", "peer")) if kind == "ipsec" else ("device", ("ike", "child", "vici"))
    if kind is not None and needs not in m:
        cur.error(f"a tunnel of type {kind} needs '{needs}'")
    for key in others:
        if kind is not None and key in m:
            m[key].error(f"'{key}' has no meaning for a tunnel of type {kind}")
    device = m["device"].string() if "device" in m else ""
    if device and not (len(device.encode()) <= IFNAMSIZ and "/" not in device and " " not in device):
        m["device"].error(f"{device!r} is not a Linux interface name (1-15 bytes, no '/' or space)")
        device = None
    ike = m["ike"].string() if "ike" in m else None
    child = m["child"].string() if "child" in m else None
    vici = m["vici"].string() if "vici" in m else default(Tunnel, "vici")
    peer = m["peer"].string() if "peer" in m else None
    if peer is not None and not WG_KEY.match(peer):
        m["peer"].error("not a WireGuard public key (44 characters of base64, as 'wg pubkey' prints it)")
    if peer is not None and kind == "interface":
        m["peer"].error("'peer' names a WireGuard peer: it has no meaning for a tunnel of type interface")
    interval = m["interval"].number(0.01) if "interval" in m else default(Tunnel, "interval")
    reject = m["reject_after"].number(1) if "reject_after" in m else default(Tunnel, "reject_after")
    key_age = m["key_max_age"].number(1) if "key_max_age" in m else None
    netns = m["netns"].string() if "netns" in m else None
    if None in (kind, device, interval, reject, vici) or len(cur.issues.items) > errors_before:
        return None
    return Tunnel(kind, device, peer, netns, interval, reject, key_age, ike, child, vici)  # type: ignore[arg-type]


MONITOR_KEYS = {"cli": False, "command": False, "netns": False, "interval": False, "window": False, "bmp": False}


def bmp_station(cur: Cursor) -> BmpStation | None:
    """``core_routers[].monitor.bmp``: where the station listens for this core."""
    m = cur.mapping({"listen": True, "port": False, "resync_interval": False, "allow": False})
    if m is None or "listen" not in m:
        return None
    listen = m["listen"].parsed(lambda t: str(ipaddress.ip_address(t)))
    port = m["port"].integer(1, 65535) if "port" in m else default(BmpStation, "port")
    resync = m["resync_interval"].number(1.0) if "resync_interval" in m else default(BmpStation, "resync_interval")
    allow = (
        tuple(
            a
            for a in (c.parsed(lambda t: str(ipaddress.ip_address(t))) for c in m["allow"].items(allow_scalar=True))
            if a is not None
        )
        if "allow" in m
        else ()
    )
    if listen is None or port is None or resync is None:
        return None
    return BmpStation(listen, port, resync, allow)


def monitor(cur: Cursor) -> CoreMonitor | None:
    """``core_routers[].monitor``: how the core's table is read (core/drift.py): its CLI, BMP, or both."""
    m = cur.mapping(MONITOR_KEYS)
    if m is None:
        return None
    if "cli" not in m and "bmp" not in m:
        cur.error("a monitor reads the core by 'cli', by 'bmp', or both: give at least one")
        return None
    cli = m["cli"].choice(tuple(CLI_COMMANDS)) if "cli" in m else None
    bmp = bmp_station(m["bmp"]) if "bmp" in m else None
    if ("cli" in m and cli is None) or ("bmp" in m and bmp is None):
        return None
    command: tuple[str, ...] | None = CLI_COMMANDS[cli or "frr"]
    if "command" in m:
        words = [w for w in (c.string() for c in m["command"].items(allow_scalar=True)) if w is not None]
        if len(words) == 1:
            words = shlex.split(words[0])
        if not words:
            m["command"].error("an empty command")
        command = tuple(words) or None
    netns = m["netns"].string() if "netns" in m else None
    interval = m["interval"].number(1.0) if "interval" in m else default(CoreMonitor, "interval")
    window = m["window"].number(0.0) if "window" in m else default(CoreMonitor, "window")
    if None in (command, interval, window):
        return None
    return CoreMonitor(cli, command, netns, interval, window, bmp)  # type: ignore[arg-type]


def health(cur: Cursor | None) -> Health | None:
    if cur is None:
        return Health()
    m = cur.mapping({"rise": False, "fall": False, "hold_down": False, "dampening": False})
    if m is None:
        return None
    d = Health()
    rise = m["rise"].integer(1, 1000) if "rise" in m else d.rise
    fall = m["fall"].integer(1, 1000) if "fall" in m else d.fall
    hold = m["hold_down"].number(0) if "hold_down" in m else d.hold_down
    damp: Dampening | None = d.dampening
    if "dampening" in m:
        dc = m["dampening"]
        if dc.is_null or dc.kind().startswith("bool"):
            if not dc.is_null and dc.boolean():
                dc.error(
                    "dampening: true is not an option; give a mapping (or {} for the defaults), or false to turn it off"
                )
            damp = None
        else:
            dm = dc.mapping({"penalty": False, "half_life": False, "suppress": False, "reuse": False}) or {}
            dd = Dampening()
            vals = {
                k: (dm[k].number(0.001) if k in dm else getattr(dd, k))
                for k in ("penalty", "half_life", "suppress", "reuse")
            }
            if None in vals.values():
                return None
            damp = Dampening(**vals)  # type: ignore[arg-type]
            if damp.reuse >= damp.suppress:
                dc.error(f"dampening reuse ({damp.reuse:g}) must be below suppress ({damp.suppress:g})")
    if None in (rise, fall, hold):
        return None
    return Health(rise, fall, hold, damp)  # type: ignore[arg-type]


def compliance(cur: Cursor, sets: Sets, egresses: list[Egress], complete: bool = True) -> list[Compliance]:
    """``complete``: every egress loaded (False when one has errors: its jurisdiction is then unknown here)."""
    out: list[Compliance] = []
    known = {e.jurisdiction for e in egresses}
    names: set[str] = set()
    for c in cur.items():
        m = c.mapping({"name": True, "prefixes": True, "jurisdictions": True})
        if m is None or not {"name", "prefixes", "jurisdictions"} <= set(m):
            continue
        name = m["name"].string()
        if name in names:
            m["name"].error(f"duplicate compliance rule {name!r}")
        names.add(name or "")
        set_name = m["prefixes"].string()
        pset = sets.prefix.get(set_name or "")
        if set_name is not None and pset is None:
            m["prefixes"].error(
                f"undefined prefix set {set_name!r}; defined: {', '.join(sorted(sets.prefix)) or 'none'}"
            )
        js = [j for j in (x.string() for x in m["jurisdictions"].items(allow_scalar=True)) if j]
        if not js and not m["jurisdictions"].issues:
            m["jurisdictions"].error("at least one jurisdiction is required")
        unknown = sorted(set(js) - known)
        if unknown and complete:
            m["jurisdictions"].error(
                f"no egress has jurisdiction {', '.join(unknown)}; egresses have: {', '.join(sorted(known))}"
            )
        if name and pset is not None and js:
            out.append(Compliance(name, pset, frozenset(js)))
    return out


def steering(cur: Cursor | None, egresses: list[Egress], sets: Sets) -> Steering:
    if cur is None:
        return Steering()
    keys = {
        "fail_static": False,
        "max_down": False,
        "cost_tiebreak": False,
        "multipath": False,
        "relief": False,
        "reason_communities": False,
        "move_budget": False,
    }
    m = cur.mapping(keys) or {}
    fail_static = m["fail_static"].boolean() if "fail_static" in m else True
    max_down = m["max_down"].integer(0, max(0, len(egresses))) if "max_down" in m else None
    tiebreak = m["cost_tiebreak"].boolean() if "cost_tiebreak" in m else True
    return Steering(
        fail_static if fail_static is not None else True,
        max_down,
        tiebreak if tiebreak is not None else True,
        multipath(m["multipath"], egresses, sets) if "multipath" in m else None,
        relief(m["relief"], egresses) if "relief" in m else None,
        bool(m["reason_communities"].boolean()) if "reason_communities" in m else False,
        move_budget(m["move_budget"]) if "move_budget" in m else None,
    )


def move_budget(cur: Cursor) -> MoveBudget | None:
    m = cur.mapping({"moves": False, "interval": False})
    if m is None:
        return None
    d = MoveBudget()
    moves = m["moves"].integer(1, 1_000_000) if "moves" in m else d.moves
    interval = m["interval"].number(0.001) if "interval" in m else d.interval
    if moves is None or interval is None:
        return None
    return MoveBudget(moves, interval)


def relief(cur: Cursor, egresses: list[Egress]) -> Relief | None:
    m = cur.mapping({"threshold_pct": False, "release_pct": False, "hold": False, "max_moves": False, "flows": False})
    if m is None:
        return None
    d = Relief()
    flow_export = flows(m["flows"]) if "flows" in m else None
    threshold = m["threshold_pct"].number(1) if "threshold_pct" in m else d.threshold_pct
    release = m["release_pct"].number(0) if "release_pct" in m else d.release_pct
    hold = m["hold"].number(0) if "hold" in m else d.hold
    moves = m["max_moves"].integer(1, 100_000) if "max_moves" in m else d.max_moves
    if threshold is not None and threshold > 100:  # noqa: PLR2004 - a percentage
        m["threshold_pct"].error(f"expected at most 100, got {threshold:g}")
        return None
    if threshold is not None and release is not None and release >= threshold:
        # without a gap a prefix moved off at the threshold could come straight back: oscillation
        (m.get("release_pct") or cur).error(
            f"release_pct ({release:g}) must be below threshold_pct ({threshold:g}): the gap keeps moves from "
            "oscillating"
        )
        return None
    if not any(e.capacity_mbps for e in egresses):
        cur.error("relief needs capacity_mbps on the egresses it should relieve (and on those it moves traffic to)")
        return None
    if threshold is None or release is None or hold is None or moves is None or ("flows" in m and not flow_export):
        return None
    return Relief(threshold, release, hold, moves, flow_export)


def flows(cur: Cursor) -> Flows | None:
    """``steering.relief.flows``: the flow collector (core/model.py Flows)."""
    errors_before = len(cur.issues.items)
    m = cur.mapping(
        {"listen": True, "port": False, "exporters": True, "window": False, "interval": False, "max_datagrams": False}
    )
    if m is None or "listen" not in m or "exporters" not in m:
        return None
    listen = m["listen"].parsed(lambda t: str(ipaddress.ip_address(t)))
    port = m["port"].integer(1, PORT_MAX) if "port" in m else default(Flows, "port")
    window = m["window"].number(1) if "window" in m else default(Flows, "window")
    interval = m["interval"].number(0.1) if "interval" in m else default(Flows, "interval")
    queued = m["max_datagrams"].integer(10, 1_000_000) if "max_datagrams" in m else default(Flows, "max_datagrams")
    if window is not None and interval is not None and interval > window:
        m["interval"].error(f"interval {interval:g} is longer than window {window:g}: volumes would be stale")
    exporters: list[FlowExporter] = []
    seen: set[str] = set()
    for item in m["exporters"].items():
        e = item.mapping({"address": True, "sampling": False})
        if e is None or "address" not in e:
            continue
        address = e["address"].parsed(lambda t: str(ipaddress.ip_address(t)))
        sampling = e["sampling"].integer(1, 2**32 - 1) if "sampling" in e else None
        if address in seen:
            e["address"].error(f"exporter {address} is listed twice")
        elif address is not None:
            seen.add(address)
            exporters.append(FlowExporter(address, sampling))
    if not exporters and len(cur.issues.items) == errors_before:
        m["exporters"].error("no exporter: list the routers whose flow export is read (others are dropped)")
    if listen is None or None in (port, window, interval, queued) or len(cur.issues.items) > errors_before:
        return None
    return Flows(listen, tuple(exporters), port, window, interval, queued)  # type: ignore[arg-type]


def multipath(cur: Cursor, egresses: list[Egress], sets: Sets) -> Multipath | None:
    m = cur.mapping({"prefixes": False, "weights": False})
    if m is None:
        return None
    pset = None
    if "prefixes" in m:
        name = m["prefixes"].string()
        if name is not None and name not in sets.prefix:
            m["prefixes"].error(f"undefined prefix set {name!r}; defined: {', '.join(sorted(sets.prefix)) or 'none'}")
        pset = sets.prefix.get(name or "")
    weights = m["weights"].choice(("capacity", "equal")) if "weights" in m else default(Multipath, "weights")
    if weights == "capacity":
        missing = [e.id for e in egresses if e.capacity_mbps is None]
        if missing:
            # the core weighs only paths that all carry a bandwidth (else it falls back to equal shares)
            (m.get("weights") or cur).error(
                f"weights: capacity needs capacity_mbps on every egress; missing on {', '.join(missing)} "
                "(or weights: equal)"
            )
    if "prefixes" in m and pset is None:
        return None  # reported above
    return Multipath(pset, cast("MultipathWeights", weights or "capacity"))


CLASS_KEYS = {
    "name": True,
    "sla": False,
    "objective": False,
    "slack_pct": False,
    "slack_ms": False,
    "rise": False,
    "fall": False,
    "hold_down": False,
    "fail_static": False,
    "match": False,
}


def app_classes(cur: Cursor, sets: Sets, egresses: list[Egress]) -> list[AppClass]:
    out: list[AppClass] = []
    names: set[str] = set()
    for c in cur.items():
        m = c.mapping(CLASS_KEYS)
        if m is None or "name" not in m:
            continue
        name = m["name"].string()
        if name in names:
            m["name"].error(f"duplicate class {name!r}")
        names.add(name or "")
        d = AppClass("")
        sla = m["sla"].mapping({"latency_ms": False, "loss_pct": False, "jitter_ms": False}) if "sla" in m else {}
        sla = sla or {}
        lat = sla["latency_ms"].number(0) if "latency_ms" in sla else None
        loss = sla["loss_pct"].number(0) if "loss_pct" in sla else None
        if loss is not None and loss > PERCENT:
            sla["loss_pct"].error("loss_pct is a percentage (0..100)")
        elif loss is not None:
            # a loss ratio measured over too few samples is noise: one lost probe must not break the SLA alone
            for e in egresses:
                if e.probe is not None and e.probe.window * loss / PERCENT < MIN_LOSSES:
                    sla["loss_pct"].error(
                        f"loss_pct {loss:g} is under 3 lost probes in egress {e.id}'s window of {e.probe.window}: "
                        f"one lost probe would be {100 / e.probe.window:g}%; raise probe.window to at least "
                        f"{int(300 / loss) + 1} or the threshold"
                    )
                    break
        jit = sla["jitter_ms"].number(0) if "jitter_ms" in sla else None
        objective = m["objective"].choice(("performance", "cost")) if "objective" in m else d.objective
        slack = m["slack_pct"].number(0) if "slack_pct" in m else d.slack_pct
        slack_ms = m["slack_ms"].number(0) if "slack_ms" in m else d.slack_ms
        rise = m["rise"].integer(1, 1000) if "rise" in m else d.rise
        fall = m["fall"].integer(1, 1000) if "fall" in m else d.fall
        hold = m["hold_down"].number(0) if "hold_down" in m else d.hold_down
        fs = m["fail_static"].boolean() if "fail_static" in m else d.fail_static
        match = (
            m["match"].mapping({"dscp": False, "protocol": False, "ports": False, "prefixes": False})
            if "match" in m
            else {}
        )
        match = match or {}
        dscp = (
            tuple(v for v in (x.integer(0, 63) for x in match["dscp"].items(allow_scalar=True)) if v is not None)
            if "dscp" in match
            else ()
        )
        protos = (
            tuple(
                v
                for v in (x.choice(("tcp", "udp", "icmp", "sctp")) for x in match["protocol"].items(allow_scalar=True))
                if v
            )
            if "protocol" in match
            else ()
        )
        ports = tuple(_ports(x) for x in match["ports"].items(allow_scalar=True)) if "ports" in match else ()
        pset = match["prefixes"].string() if "prefixes" in match else None
        if pset is not None and pset not in sets.prefix:
            match["prefixes"].error(
                f"undefined prefix set {pset!r}; defined: {', '.join(sorted(sets.prefix)) or 'none'}"
            )
        values = (name, objective, slack, slack_ms, rise, fall, hold, fs)
        if None in values or None in ports:
            continue
        # each checked just above: none is None
        name, objective, slack, slack_ms, rise, fall, hold, fs = cast(
            "tuple[str, Objective, float, float, int, int, float, bool]", values
        )
        out.append(
            AppClass(
                name,
                lat,
                loss,
                jit,
                objective,
                slack,
                slack_ms,
                rise,
                fall,
                hold,
                fs,
                dscp,
                protos,
                tuple(p for p in ports if p),
                pset,
                tuple(format_prefix(r.prefix) for r in sets.prefix[pset].ranges) if pset in sets.prefix else (),
            )
        )
    return out


def _ports(cur: Cursor) -> str | None:
    cur.accepts(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "pattern": "^[0-9]+(-[0-9]+)?$"},
            ]
        }
    )
    text = str(cur.node.value) if cur.node is not None and hasattr(cur.node, "value") else ""
    lo, _, hi = text.partition("-")
    if (
        not lo.isdigit()
        or (hi and not hi.isdigit())
        or not 0 < int(lo) <= PORT_MAX
        or (hi and not int(lo) <= int(hi) <= PORT_MAX)
    ):
        cur.error(f"expected a port or a range like 16384-32767, got {text!r}")
        return None
    return text
