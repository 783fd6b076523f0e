"""Answers to the NOC's questions, computed from the running engine's state.

No I/O: the control socket (noc/server.py) calls these and sends the result.
Every answer is a JSON-ready dict; the CLI renders it as a table or JSON.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from bgpsteer.core.ranking import core_choice, core_order
from bgpsteer.exitcodes import ExitCode

if TYPE_CHECKING:
    from bgpsteer.core.engine import Engine
    from bgpsteer.core.ledger import Ledger
    from bgpsteer.core.model import Egress
    from bgpsteer.runtime.agent import Agent


class QueryError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def require_egress(engine: Engine, egress: str) -> Egress:
    """The configured egress, or the usage error every command gives for an unknown one."""
    e = engine.egresses.get(egress)
    if e is None:
        raise QueryError(f"unknown egress {egress!r}; egresses: {', '.join(engine.egresses)}", ExitCode.USAGE)
    return e


def _egress_of(engine: Engine) -> dict[int, str]:
    return {e.path_id: e.id for e in engine.config.egresses}


def _usable_pids(engine: Engine, cls: str | None = None) -> set[int]:
    """Path ids whose next-hop route is announced in a scope (default sessions, or a class's)."""
    if cls is not None and cls not in {c.name for c in engine.config.classes}:
        names = ", ".join(c.name for c in engine.config.classes) or "none configured"
        raise QueryError(f"unknown class {cls!r}; classes: {names}", ExitCode.USAGE)
    return {engine.config.egress(e).path_id for e in engine.steering.in_service.get(cls or "", set())}


def status(agent: Agent) -> dict[str, Any]:
    e = agent.engine
    now = agent.clock()
    return {
        "time": now,
        "uptime_s": round(now - agent.started_at, 1),
        "config": {"file": e.config.source, "digest": e.config.digest, "reload_failures": agent.reload_failures},
        "last_decision": e.stats.last_decision or None,
        "decision_id": e.stats.decision_id,
        "fail_static": e.steering.fail_static,
        "cloud_peers": [{"name": i.peer.name, "address": a, "egress": i.peer.egress, "state": i.state, "routes": i.routes,
                         "accepted": i.accepted, "refused": i.refused} for a, i in e.peers.items()],
        "core_routers": [{"name": c.name, "address": c.address, "state": agent.core_state.get(c.address, "idle")} for c in e.config.core_routers],
        "egresses": [{"egress": x.id, "health": e.steering.health[x.id].state, "in_service": e.steering.usable(x.id),
                      "drained": x.id in e.steering.drained, "paths": e.stats.paths_by_path_id.get(x.path_id, 0)} for x in e.config.egresses],
        "routes": {"prefixes": len(e.rib), "received": e.stats.routes_received, "announced_paths": sum(e.stats.paths_by_path_id.values())},
        "pipe": {"malformed_lines": agent.malformed, "commands_sent": agent.commands_sent, "acks_ok": agent.acks_ok, "acks_error": agent.acks_error,
                 "rejected_paths": len(agent.ledger.rejected), "unconfirmed_paths": len(agent.ledger.unconfirmed),
                 "missing_acks": agent.ledger.missing_acks, "extra_acks": agent.ledger.extra_acks,
                 "awaiting_ack_routes": agent.ledger.outstanding_routes, "deferred_decisions": agent.deferred_flushes,
                 "invalid_prefixes": e.stats.invalid_prefixes},
    }


def longest_match(engine: Engine, text: str) -> str | None:
    """The RIB prefix an address (or prefix) falls in, longest first, as a router's 'show ip bgp ADDRESS'."""
    net = ipaddress.ip_network(text, strict=False)
    for length in range(net.prefixlen, -1, -1):
        candidate = str(net.supernet(new_prefix=length)) if length < net.prefixlen else str(net)
        if candidate in engine.rib:
            return candidate
    return None


def _resolve(engine: Engine, target: str) -> str:
    """The RIB prefix for a prefix or address the user typed, or a QueryError saying why not."""
    try:
        prefix = longest_match(engine, target)
    except ValueError as exc:
        raise QueryError(f"not an address or prefix: {target!r} ({exc})", ExitCode.USAGE) from None
    if prefix is None:
        raise QueryError(f"{target}: no route in bgpsteer's RIB covers it", ExitCode.NOT_FOUND)
    return prefix


def _route(engine: Engine, prefix: str, egress_of: dict[int, str], usable: set[int], ledger: Ledger | None) -> dict[str, Any]:
    entry = engine.rib[prefix]
    primary, tie = core_choice(entry.out, usable)
    return {
        "prefix": prefix,
        "primary": egress_of.get(primary) if primary is not None else None,
        "tie": tie,
        "paths": [{"egress": egress_of.get(pid, "?"), "path_id": pid, "in_service": pid in usable, "local_pref": a.local_pref, "med": a.med,
                   "as_path": list(a.as_path), "communities": a.describe()["communities"],
                   "exabgp": ledger.state(prefix, pid) if ledger is not None else "accepted"} for pid, a in entry.out],
        "candidates": [{"peer": p.peer.name, "egress": p.peer.egress, "accepted": p.verdict.accepted} for p in entry.paths],
    }


def routes(engine: Engine, target: str | None = None, egress: str | None = None, peer: str | None = None,
           limit: int = 1000, cls: str | None = None, ledger: Ledger | None = None) -> dict[str, Any]:
    if egress is not None:
        require_egress(engine, egress)
    if peer is not None and peer not in {p.peer.name for p in engine.peers.values()}:
        raise QueryError(f"unknown cloud peer {peer!r}; peers: {', '.join(sorted(p.peer.name for p in engine.peers.values()))}", ExitCode.USAGE)
    egress_of, usable = _egress_of(engine), _usable_pids(engine, cls)
    if target is not None:
        prefix = _resolve(engine, target)
        return {"match": prefix, "class": cls, "routes": [_route(engine, prefix, egress_of, usable, ledger)], "total": 1, "truncated": False}
    out: list[dict[str, Any]] = []
    total = 0
    pid = engine.egresses[egress].path_id if egress else None
    for prefix, entry in engine.rib.items():
        if pid is not None and all(p != pid for p, _ in entry.out):
            continue
        if peer is not None and all(p.peer.name != peer for p in entry.paths):
            continue
        total += 1
        if len(out) < limit:
            out.append(_route(engine, prefix, egress_of, usable, ledger))
    return {"match": None, "class": cls, "routes": out, "total": total, "truncated": total > len(out)}


def egresses(engine: Engine, now: float, egress: str | None = None) -> dict[str, Any]:
    ids = [require_egress(engine, egress).id] if egress is not None else engine.config.egress_ids()
    out = []
    for eid in ids:
        d = engine.steering.describe(eid, now)
        e = engine.egresses[eid]
        d.update({"region": e.region, "jurisdiction": e.jurisdiction, "cost_per_gb": e.cost_per_gb, "next_hop": e.next_hop,
                  "paths": engine.stats.paths_by_path_id.get(e.path_id, 0)})
        out.append(d)
    return {"egresses": out}


def peers(agent: Agent) -> dict[str, Any]:
    e = agent.engine
    return {
        "cloud_peers": [{"name": i.peer.name, "address": a, "asn": i.peer.asn, "egress": i.peer.egress, "provider": i.peer.provider,
                         "region": i.peer.region, "state": i.state, "since": i.last_change or None, "reason": i.last_reason,
                         "routes": i.routes, "accepted": i.accepted, "refused": i.refused, "eor": sorted(i.eor)} for a, i in e.peers.items()],
        "core_routers": [{"name": c.name, "address": c.address, "asn": c.asn, "state": agent.core_state.get(c.address, "idle")}
                         for c in e.config.core_routers],
    }


def explain(engine: Engine, target: str, cls: str | None = None, ledger: Ledger | None = None) -> dict[str, Any]:
    prefix = _resolve(engine, target)
    ex = engine.explain(prefix)
    assert ex is not None
    for a in ex["announced"]:  # what ExaBGP made of each announcement: never report as announced what it refused
        a["exabgp"] = ledger.state(prefix, a["path_id"]) if ledger is not None else "accepted"
    egress_of, usable = _egress_of(engine), _usable_pids(engine, cls)
    entry = engine.rib[prefix]
    primary, tie = core_choice(entry.out, usable)
    st = engine.steering
    if st.classes is not None:
        for e in ex["egresses"]:
            for c in st.classes.classes:
                if cls is None or c == cls:
                    fits = st.classes.fits(c, e["egress"])
                    e.setdefault("checks", []).append(
                        f"class {c}: {'fits SLA' if fits else 'misses SLA'} ({st.classes.why[(c, e['egress'])] or 'not measured yet'}); "
                        f"{'in service' if st.usable(e['egress'], c) else 'OUT of service'} for {c} sessions"
                        + (" (class fail static)" if c in st.class_static else ""))
    ranking = core_order(entry.out, usable)
    ex["ranking"] = [{"rank": i + 1, "egress": egress_of.get(pid, "?"), "local_pref": a.local_pref, "med": a.med, "in_service": pid in usable,
                      "tied_with_previous": tied, "exabgp": ledger.state(prefix, pid) if ledger is not None else "accepted"}
                     for i, (pid, a, tied) in enumerate(ranking)]
    ex["primary"] = egress_of.get(primary) if primary is not None else None
    ex["tie"] = tie
    ex["match"] = prefix
    ex["class"] = cls
    afi = 6 if ":" in prefix else 4
    ex["core_routers"] = [{"name": c.name, "address": c.address, "class": c.app_class,
                           "announced": [egress_of.get(pid, "?") for pid, _ in entry.out] if f"ipv{afi}" in c.families else []}
                          for c in engine.config.core_routers]
    return ex
