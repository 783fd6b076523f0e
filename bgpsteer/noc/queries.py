"""Answers to the NOC's questions, read from the core's read API (core/view.py) and the agent's port.

No I/O: the control socket (noc/server.py) calls these and sends the result.
Every answer is a JSON-ready dict; the CLI renders it as a table or JSON.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bgpsteer.core.ledger import Ledger
from bgpsteer.core.model import Egress, Scope
from bgpsteer.core.view import CoreView, EgressView, PeerView, PrefixDecision, UnknownName
from bgpsteer.exitcodes import ExitCode
from bgpsteer.noc.port import AgentPort, CoreDrift


class QueryError(Exception):
    def __init__(self, message: str, code: int = ExitCode.NOT_FOUND) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def _known_names() -> Iterator[None]:
    """A name the configuration does not know (egress, class, cloud peer) is a usage error for the NOC."""
    try:
        yield
    except UnknownName as exc:
        raise QueryError(str(exc.args[0]), ExitCode.USAGE) from None


def _scope(view: CoreView, cls: str | None) -> Scope:
    with _known_names():
        return view.scope(cls)


def require_egress(view: CoreView, egress: str) -> Egress:
    """The configured egress, or the usage error every command gives for an unknown one."""
    with _known_names():
        return view.require_egress(egress)


def _peer(p: PeerView, full: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": p.name,
        "address": p.address,
        "egress": p.egress,
        "state": p.state,
        "routes": p.routes,
        "accepted": p.accepted,
        "refused": p.refused,
    }
    if full:
        d.update(
            {
                "asn": p.asn,
                "provider": p.provider,
                "region": p.region,
                "since": p.since,
                "reason": p.reason,
                "eor": list(p.eor),
            }
        )
    return d


def _cores(port: AgentPort, full: bool) -> list[dict[str, Any]]:
    sessions = port.core_sessions()
    return [
        {
            "name": c.name,
            "address": c.address,
            **({"asn": c.asn} if full else {}),
            "state": sessions.get(c.address, "idle"),
        }
        for c in port.view.config.core_routers
    ]


def load(view: CoreView, now: float) -> list[dict[str, Any]]:
    """Relief's view of each egress with a capacity: its load now, and where that number came from."""
    return [
        {
            "egress": e.egress,
            "capacity_mbps": e.capacity_mbps,
            "load_pct": e.load_pct,
            "mbps": e.mbps,
            "source": e.source,
            "age_s": e.age_s,
            "moved_off": e.moved_off,
        }
        for e in view.load(now)
    ]


def utilization(port: AgentPort) -> list[dict[str, Any]]:
    """Per egress with a capacity: relief's number and, where its interface counter is read, the reader's word."""
    view, now, counters = port.view, port.clock(), port.counters()
    out = []
    for e in load(view, now):
        c = counters.get(e["egress"])
        e["counter"] = (
            None
            if c is None
            else {
                "where": c.where,
                "mbps": c.mbps,
                "why": c.why,
                "read_ago_s": round(now - c.read_at, 1) if c.read_at is not None else None,
                "readings": c.readings,
                "failures": c.failures,
                "resets": c.resets,
            }
        )
        out.append(e)
    return out


def flows(port: AgentPort) -> dict[str, Any] | None:
    """The flow collector's word (None: not configured): per exporter what came and when, what was dropped and
    why, and per egress the volume flows saw beside what its counter reads (two sources that should agree)."""
    s = port.flow_collector()
    if s is None:
        return None
    view, now = port.view, port.clock()
    relief = view.config.steering.relief
    window = relief.flows.window if relief is not None and relief.flows is not None else 0.0
    source, volumes = view.volumes(now)
    by_egress: dict[str, float] = {}
    for prefix, mbps in volumes.items():
        d = view.decision(prefix)
        if d is not None and d.primary is not None:
            by_egress[d.primary] = by_egress.get(d.primary, 0.0) + mbps
    counted = {e["egress"]: e["mbps"] for e in load(view, now)}
    st = s.decoder
    return {
        "listen": s.listen,
        "error": s.error,
        "exporters": [
            {
                "address": e.address,
                "datagrams": e.datagrams,
                "flows": e.flows,
                "sampling": e.sampling,
                "last_ago_s": None if e.last_at is None else round(now - e.last_at, 1),
                "silent": e.last_at is None or now - e.last_at > window,
            }
            for e in s.exporters.values()
        ],
        "volumes": {"known": source == "flow" and bool(volumes), "prefixes": len(volumes) if source == "flow" else 0},
        "per_egress": [
            {"egress": eid, "flow_mbps": round(by_egress.get(eid, 0.0), 4), "counter_mbps": counted.get(eid)}
            for eid in sorted(set(by_egress) | {k for k, v in counted.items() if v is not None})
        ],
        "dropped": {
            "unlisted_exporter": s.unlisted,
            "queue_full": s.flooded,
            "socket_full": s.socket_dropped,
            "malformed": st.malformed,
            "no_template": st.expired,
        },
        "templates": st.templates,
        "held_for_template": st.held,
        "decoded_late": st.late,
        "unmatched_octets": s.unmatched_octets,
    }


def status(port: AgentPort) -> dict[str, Any]:
    view, now = port.view, port.clock()
    c, pipe, rt = view.counters(), port.pipe(), port.runtime()
    return {
        "time": now,
        "uptime_s": round(now - rt.started_at, 1),
        "runtime": {
            "pid": rt.pid,
            "reconciled": rt.reconciled,
            "table_complete_after_s": rt.table_complete_after,
            "eor_sent_to": list(rt.eor_sent_to),
            "tcp_md5_drops": rt.tcp_md5,
        },
        "config": {"file": view.config.source, "digest": view.config.digest, "reload_failures": pipe.reload_failures},
        "last_decision": c.last_decision or None,
        "decision_id": c.decision_id,
        "fail_static": view.fail_static,
        "held_moves": [
            {"class": h.app_class, "egress": h.egress, "action": h.action, "since": h.since, "reason": h.reason}
            for h in view.held_moves()
        ],
        "cloud_peers": [_peer(p, False) for p in view.peers()],
        "site_learning": _site_learning(view),
        "return_path": [
            {
                "peer": r.peer,
                "cloud": r.cloud,
                "provider": r.provider,
                "egress": r.egress,
                "answers_through": r.preferred,
                "why": r.why,
                "split": r.split,
                "routes": len(r.routes),
                "limit": r.limit,
                "announced": {
                    p: {"role": role, "attrs": attrs, "why": why} for p, (role, attrs, why) in r.routes.items()
                },
                "left_out": [{"prefix": p, "why": why} for p, why in r.left_out],
                "asymmetric": list(r.asymmetric),
            }
            for r in view.return_path()
        ],
        "core_routers": _cores(port, False),
        "egresses": [
            {"egress": e.id, "health": e.health, "in_service": e.in_service, "drained": e.drained, "paths": e.paths}
            for e in view.egresses(now)
        ],
        "utilization": utilization(port),
        "flows": flows(port),
        "routes": {"prefixes": c.prefixes, "received": c.routes_received, "announced_paths": c.announced_paths},
        "drift": {
            f"{r['core']} ({r['source']})": {"prefixes": len({d["prefix"] for d in r["drift"]}), "error": r["error"]}
            for r in verify(port)["cores"]
        },
        "pipe": {
            "malformed_lines": pipe.malformed_lines,
            "commands_sent": pipe.commands_sent,
            "acks_ok": pipe.acks_ok,
            "acks_error": pipe.acks_error,
            "rejected_paths": pipe.rejected_paths,
            "unconfirmed_paths": pipe.unconfirmed_paths,
            "missing_acks": pipe.missing_acks,
            "extra_acks": pipe.extra_acks,
            "awaiting_ack_routes": pipe.awaiting_ack_routes,
            "deferred_decisions": pipe.deferred_decisions,
            "invalid_prefixes": c.invalid_prefixes,
        },
    }


def verify(port: AgentPort) -> dict[str, Any]:
    """Each monitored core router's drift from intent (core/drift.py), as its last reading of each source (its
    CLI: what it holds and uses; BMP: what it holds after its policy) showed it."""
    now = port.clock()
    states = port.core_drift()
    cores = []
    for c in port.view.config.core_routers:
        if c.monitor is None:
            continue
        for source in c.monitor.sources:
            s = states.get((c.name, source))
            cores.append(
                {
                    "core": c.name,
                    "source": source,
                    "read_ago_s": None if s is None or s.read_at is None else round(now - s.read_at, 1),
                    "error": "no reading yet" if s is None or (s.read_at is None and not s.error) else s.error,
                    "window_s": c.monitor.window,
                    "pending": 0 if s is None else s.pending,
                    "resyncs": 0 if s is None else s.resyncs_total,
                    "drift": []
                    if s is None
                    else [{"prefix": d.prefix, "kind": d.kind, "detail": d.detail} for d in s.drift],
                }
            )
    return {"cores": cores}


def _resolve(view: CoreView, target: str) -> str:
    """The RIB prefix for a prefix or address the user typed, or a QueryError saying why not."""
    try:
        prefix = view.longest_match(target)
    except ValueError as exc:
        raise QueryError(f"not an address or prefix: {target!r} ({exc})", ExitCode.USAGE) from None
    if prefix is None:
        raise QueryError(f"{target}: no route in bgpsteer's RIB covers it", ExitCode.NOT_FOUND)
    return prefix


def _exabgp(ledger: Ledger | None, prefix: str, path_id: int) -> str:
    """What ExaBGP made of an announcement: never report as announced what it refused."""
    return ledger.state(prefix, path_id) if ledger is not None else "accepted"


def _route(d: PrefixDecision, ledger: Ledger | None) -> dict[str, Any]:
    by_pid = sorted(d.ranking, key=lambda r: r.path_id)  # the order of the announcements (by path id)
    return {
        "prefix": d.prefix,
        "primary": d.primary,
        "tie": d.tie,
        "paths": [
            {
                "egress": r.egress,
                "path_id": r.path_id,
                "in_service": r.in_service,
                "local_pref": r.attrs.local_pref,
                "med": r.attrs.med,
                "as_path": list(r.attrs.as_path),
                "communities": r.attrs.describe()["communities"],
                "exabgp": _exabgp(ledger, d.prefix, r.path_id),
            }
            for r in by_pid
        ],
        "candidates": [{"peer": c.peer, "egress": c.egress, "accepted": c.accepted} for c in d.candidates],
    }


def routes(  # noqa: PLR0913 - the command's filters, and what each route is shown with
    view: CoreView,
    target: str | None = None,
    egress: str | None = None,
    peer: str | None = None,
    limit: int = 1000,
    cls: str | None = None,
    *,
    ledger: Ledger | None = None,
    drift: Mapping[tuple[str, str], CoreDrift] | None = None,
    only_drift: bool = False,
) -> dict[str, Any]:
    """Announced routes; each with the drift monitored cores show for it (``only_drift``: only those)."""
    scope = _scope(view, cls)
    differs: dict[str, list[str]] = {}
    for (core, source), s in (drift or {}).items():
        for found in s.drift:
            differs.setdefault(found.prefix, []).append(f"{core} ({source}): {found.detail}")
    if target is not None:
        prefix = _resolve(view, target)
        d = view.decision(prefix, scope)
        assert d is not None
        route = _route(d, ledger) | {"drift": differs.get(prefix, [])}
        return {"match": prefix, "class": cls, "routes": [route], "total": 1, "truncated": False}
    out: list[dict[str, Any]] = []
    total = 0
    with _known_names():
        for prefix in view.prefixes(egress, peer):
            if only_drift and prefix not in differs:
                continue
            total += 1
            if len(out) < limit:
                d = view.decision(prefix, scope)
                assert d is not None
                out.append(_route(d, ledger) | {"drift": differs.get(prefix, [])})
    return {"match": None, "class": cls, "routes": out, "total": total, "truncated": total > len(out)}


def _egress(e: EgressView, fail_static: bool) -> dict[str, Any]:
    x = e.egress
    return {
        "egress": x.id,
        "health": e.health_detail,
        "in_service": e.in_service,
        "drained": e.drained,
        "fail_static": fail_static,
        "probe": None
        if x.probe is None
        else {"kind": x.probe.kind, "targets": list(x.probe.targets), "interval": x.probe.interval},
        "measured": e.measured,
        "classes": {
            c.app_class: {
                "fits_sla": c.fits_sla,
                "why": c.why,
                "sla_state": c.sla_state,
                "in_service": c.in_service,
                "fail_static": c.fail_static,
            }
            for c in e.classes
        },
        "targets": e.targets,
        "tunnel": e.tunnel,
        "region": x.region,
        "jurisdiction": x.jurisdiction,
        "cost_per_gb": x.cost_per_gb,
        "next_hop": x.next_hop,
        "paths": e.paths,
    }


def egresses(view: CoreView, now: float, egress: str | None = None) -> dict[str, Any]:
    if egress is not None:
        require_egress(view, egress)
    chosen = [view.egress(egress, now)] if egress is not None else view.egresses(now)
    out = [_egress(e, view.fail_static) for e in chosen]
    return {"egresses": out}


def peers(port: AgentPort) -> dict[str, Any]:
    return {"cloud_peers": [_peer(p, True) for p in port.view.peers()], "core_routers": _cores(port, True)}


def explain(
    view: CoreView,
    target: str,
    cls: str | None = None,
    ledger: Ledger | None = None,
    drift: Mapping[tuple[str, str], CoreDrift] | None = None,
) -> dict[str, Any]:
    scope = _scope(view, cls)
    site = _site(view, target, ledger)
    if site is not None:
        return site
    try:
        prefix = _resolve(view, target)
    except QueryError as exc:
        held = _core_only(view, target, drift or {}) if exc.code == ExitCode.NOT_FOUND else None
        if held is None:
            raise
        return held
    ex = view.explain(prefix, scope)
    assert ex is not None
    for item in ex["announced"] + ex["ranking"]:
        item["exabgp"] = _exabgp(ledger, prefix, item["path_id"])
    ex["return"] = view.return_of(prefix)
    ex["core_view"] = _core_view(view, prefix, drift or {})
    return ex


def _core_only(view: CoreView, target: str, drift: Mapping[tuple[str, str], CoreDrift]) -> dict[str, Any] | None:
    """A prefix bgpsteer announces nothing for that a monitored core still holds or drifts on (a path left stale
    after a restart): the core's view alone, so explain answers where the traffic goes.  None: no core holds it."""
    network = ipaddress.ip_network(target, strict=False)  # _resolve has parsed it already
    known = [s for s in drift.values() if s.read_at is not None and not s.error]
    for length in range(network.prefixlen, -1, -1):  # longest match over what the cores hold: a lookup a length
        prefix = str(network.supernet(new_prefix=length))
        if any(prefix in s.held or any(d.prefix == prefix for d in s.drift) for s in known):
            return {"match": prefix, "core_only": True, "core_view": _core_view(view, prefix, drift)}
    return None


def _core_view(view: CoreView, prefix: str, drift: Mapping[tuple[str, str], CoreDrift]) -> list[dict[str, Any]]:
    """What each monitored core holds for the prefix at its last reading, and whether that is as intended."""
    by_nh = view.config.egress_by_next_hop
    out: list[dict[str, Any]] = []
    for c in view.config.core_routers:
        for source in c.monitor.sources if c.monitor is not None else ():
            s = drift.get((c.name, source))
            if s is None or s.read_at is None or s.error:
                why = "no reading yet" if s is None or not s.error else s.error
                out.append({"core": c.name, "source": source, "state": "unknown", "why": why, "held": [], "drift": []})
                continue
            mine = [d.detail for d in s.drift if d.prefix == prefix]
            held = [
                {
                    "egress": by_nh.get(p.next_hop),
                    "next_hop": p.next_hop,
                    "local_pref": p.local_pref,
                    "best": p.best,
                    "valid": p.valid,
                }
                for p in s.held.get(prefix, [])
            ]
            state = "NOT as intended" if mine else "as intended"
            out.append({"core": c.name, "source": source, "state": state, "why": "", "held": held, "drift": mine})
    return out


def _site_learning(view: CoreView) -> dict[str, Any] | None:
    s = view.site_learning()
    if s is None:
        return None
    return {
        "routers": list(s.routers),
        "prefix_set": s.prefix_set,
        "announced": [{"prefix": p, "origin": o} for p, o in s.announced],
        "over_max": list(s.over_max),
        "held": s.held,
        "accepted": s.accepted,
        "refused": s.refused,
        "last_refused": s.last_refused,
        "expired": s.expired,
        "unconfirmed": s.unconfirmed,
    }


def _site(view: CoreView, target: str, ledger: Ledger | None) -> dict[str, Any] | None:
    """The return path's explanation when the target is the site's own (None: it is not)."""
    try:
        site = view.explain_site(target)
    except ValueError:
        return None  # not an address or prefix: _resolve says so
    if site is None:
        return None
    for cloud in site["clouds"]:
        for s in cloud["sessions"]:
            for a in s["announced"]:
                a["exabgp"] = ledger.state(a["prefix"], 0, s["address"]) if ledger is not None else "accepted"
    return site


def state_dump(port: AgentPort) -> dict[str, Any]:
    """The SIGUSR1 state dump: the NOC's own answers (status, egresses, peers), every announcement, every
    rejected route with its trace, and the explanation of the first 10,000 prefixes."""
    view, now = port.view, port.clock()
    return {
        "time": now,
        "config": {"file": view.config.source, "digest": view.config.digest},
        "stats": dataclasses.asdict(view.counters()) | dataclasses.asdict(port.pipe()),
        "peers": {p["name"]: p for p in peers(port)["cloud_peers"]},
        "egresses": {e["egress"]: e for e in egresses(view, now)["egresses"]},
        "announced": [{"prefix": p, "path_id": pid, "attrs": a.describe()} for p, pid, a in view.announced_routes()],
        "rejected": [{"prefix": p, "peer": peer, "trace": list(tr)} for p, peer, tr in view.rejected()],
        "explain": {p: view.explain(p) for p in itertools.islice(view.prefixes(), 10000)},
    }
