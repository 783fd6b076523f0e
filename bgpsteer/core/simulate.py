"""What-if: which egress each prefix would leave through if egresses failed or the config changed.

Pure: works on a copy of the decision inputs and touches nothing on the wire.
The prediction models the core router's BGP decision over the paths bgpsteer
announced whose next-hop still resolves: highest LOCAL_PREF, shortest AS path,
lowest origin, then MED between paths from the same neighbour AS; a tie after
that is reported as such (the router's own tie-breaks decide).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.decision import OutSet
from bgpsteer.core.events import PeerState, RoutesAnnounced
from bgpsteer.core.family import afi_of
from bgpsteer.core.model import DEFAULT_SCOPE, Scope
from bgpsteer.core.ranking import core_choice
from bgpsteer.core.returnpath import plan
from bgpsteer.core.sla import sla_fit
from bgpsteer.core.steering import class_wanted, default_wanted
from bgpsteer.core.viewtypes import UnknownName

if TYPE_CHECKING:
    from bgpsteer.core.engine import Engine

LIST_LIMIT = 1000


def _replay(engine: Engine, config: Config, now: float) -> dict[str, OutSet]:
    """Decide the current RIB under another config, in a scratch engine."""
    from bgpsteer.core.engine import Engine

    scratch = Engine(config, now)
    scratch.exporter.set_drained(frozenset(engine.steering.drained & {e.id for e in config.egresses}))
    groups: dict[tuple[str, int, int], tuple[Attrs, list[str]]] = {}
    for prefix, entry in engine.rib.items():
        afi = afi_of(prefix)
        for p in entry.paths:
            key = (p.peer.address, afi, id(p.attrs))
            groups.setdefault(key, (p.attrs, []))[1].append(prefix)
    for address in {a for a, _, _ in groups}:
        scratch.handle(PeerState(address, "up"), now)
    for (address, afi, _), (attrs, prefixes) in groups.items():
        scratch.handle(RoutesAnnounced(address, afi, attrs, prefixes), now)
    scratch.flush(now)
    return {prefix: entry.out for prefix, entry in scratch.rib.items()}


Degrade = dict[str, dict[str, float]]  # egress -> {"latency_ms": .., "loss_pct": .., "jitter_ms": ..}


def _class_after(engine: Engine, degrade: Degrade, base_after: set[str]) -> dict[str, set[str]]:
    """Per class: the egresses that would be in service if the degraded measurements held."""
    st = engine.steering
    out: dict[str, set[str]] = {}
    summaries = {e: dict(s.summary()) for e, s in st.stats.items()}
    for e, m in degrade.items():
        summaries.setdefault(e, {}).update(m)
        summaries[e]["samples"] = max(summaries[e].get("samples") or 0.0, 1e9)  # a stated loss is taken as measured
    lats = [m["latency_ms"] for e, m in summaries.items() if e in base_after and m.get("latency_ms") is not None]
    best = min(lats) if lats else None  # type: ignore[type-var]
    for name, c in st.sla.app_classes.items():
        fit = set()
        for e in base_after:
            # a degradation can only take an egress out of a class, never bring one in
            if st.sla.fits(name, e) and (e not in degrade or sla_fit(c, summaries[e], best, True)[0]):
                fit.add(e)
        out[name], _ = class_wanted(c, fit, base_after, st.in_service.get(Scope(name), set()))  # the agent's rule
    return out


def relief_after(engine: Engine, utilization: dict[str, float], now: float) -> dict[str, Any]:
    """What relief would do if these utilizations (Mbit/s) were reported now and stayed for its hold: the moves and
    returns, with the prefix volumes last reported.  On the current state (not combined with --fail)."""
    if engine.relief is None:
        raise UnknownName("steering.relief is not configured")
    r = engine.relief.clone()
    r.report(utilization, {}, now)
    held = {eid: r.over_since[eid] for eid in r.over_since}
    r.report(utilization, {}, now + r.relief.hold)  # still reported after the hold
    r.over_since.update(held)
    moves, returns = r.step(now + r.relief.hold, engine.core_order_of)

    def row(m: Any) -> dict[str, Any]:
        return {"prefix": m.prefix, "from": m.source, "to": m.target, "volume_mbps": m.volume_mbps, "reason": m.reason}

    return {
        "moved": [row(m) for m in moves],
        "returned": [row(m) for m in returns],
        "load_pct_after": {eid: round(s, 1) for eid in sorted(r.capacity) if (s := r.share(eid)) is not None},
    }


def simulate(
    engine: Engine,
    fail: set[str],
    now: float,
    config: Config | None = None,
    degrade: Degrade | None = None,
    load: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Predict, per scope (default sessions and each class), where every prefix would leave."""
    st = engine.steering
    cur = engine.config
    new = config or cur
    degrade = degrade or {}
    unknown = sorted((fail | set(degrade)) - {e.id for e in new.egresses})
    if unknown:
        raise UnknownName(f"unknown egress {', '.join(unknown)}")
    usable_now = set(st.in_service_default)
    # healthy by their probes (whatever fail static announces meanwhile), less the ones failed by hand; an egress the
    # new config adds counts as healthy
    healthy = {eid for eid, h in st.health.items() if h.usable}
    healthy_after = (healthy - fail) | ({e.id for e in new.egresses} - set(cur.egress_ids()) - fail)
    usable_after, fail_static = default_wanted(  # the agent's own rule
        new.steering, st.probed, healthy_after, usable_now, st.last_good
    )
    scopes_now = {DEFAULT_SCOPE: usable_now, **{s: set(v) for s, v in st.in_service.items() if s.app_class is not None}}
    scopes_after = {
        DEFAULT_SCOPE: usable_after,
        **{Scope(c): v for c, v in _class_after(engine, degrade, usable_after).items()},
    }
    held_by_budget: dict[str, list[dict[str, str]]] = {}
    if st.budget is not None:  # the agent's own budget, on a copy: which class moves it would hold
        b = st.budget.clone()
        for scope in [s for s in scopes_after if s.app_class is not None]:
            name = scope.app_class or ""
            scopes_after[scope], newly = b.apply(
                name, scopes_now.get(scope, set()), scopes_after[scope], usable_after, now
            )
            held_by_budget[name] = [{"egress": h.egress, "action": h.action, "reason": h.reason} for h in newly]
    new_ids = {e.id: e for e in new.egresses}
    egress_now = cur.egress_of
    egress_after = new.egress_of
    outs_after = _replay(engine, config, now) if config is not None else {p: e.out for p, e in engine.rib.items()}
    announce_diff = 0
    if config is not None:
        for prefix in engine.rib.keys() | outs_after.keys():
            entry = engine.rib.get(prefix)
            d_now, d_after = dict(entry.out if entry else ()), dict(outs_after.get(prefix, ()))
            announce_diff += sum(1 for pid in d_now.keys() | d_after.keys() if d_now.get(pid) != d_after.get(pid))

    results: dict[Scope, dict[str, Any]] = {}
    nh_updates = 0
    for scope, after in scopes_after.items():
        now_set = scopes_now.get(scope, set())
        pid_now = {cur.egress(e).path_id for e in now_set}
        pid_after = {new_ids[e].path_id for e in after if e in new_ids}
        results[scope] = _moves(engine, outs_after, pid_now, pid_after, egress_now, egress_after)
        results[scope]["in_service_after"] = sorted(after)
        if scope.app_class is not None:
            results[scope]["held_by_budget"] = held_by_budget.get(scope.app_class, [])
        sessions = sum(1 for c in new.core_routers if c.scope == scope)
        results[scope]["sessions"] = sessions
        nh_updates += (
            sum(
                2 if cur.egress(e).next_hop6 else 1
                for e in (now_set - after) | (after - now_set)
                if e in cur.egress_ids()
            )
            * sessions
        )
    cores = len(new.core_routers)
    default = results.pop(DEFAULT_SCOPE)
    return {
        "fail": sorted(fail),
        "degrade": degrade,
        "config": new.source if config is not None else None,
        "fail_static": fail_static,
        **default,
        "classes": {scope.app_class: r for scope, r in results.items()},
        "bgp_updates": nh_updates + announce_diff * cores,
        "bgp_updates_detail": {"next_hop_changes": nh_updates, "path_changes": announce_diff * cores},
        "relief": relief_after(engine, load, now) if load else None,
        "return_path": return_after(engine, new, usable_after),
    }


def return_after(engine: Engine, config: Config, usable_after: set[str]) -> list[dict[str, Any]]:
    """The return path after the change (core/returnpath.py, the agent's own rule): per cloud, the egress it would
    answer through now and after, and how many routes its sessions would be sent or withdrawn."""
    if config.site is None:
        return []
    drained = engine.steering.drained
    before = engine.return_plan
    after = plan(config, lambda e: e in usable_after and e not in drained, engine.return_counts, engine.site_learned)
    out = []
    for name, cloud in after.clouds.items():
        was = before.clouds.get(name)
        changes = 0
        for peer in cloud.peers:
            old = {p: r.attrs for p, r in before.routes.get(peer, {}).items()}
            new = {p: r.attrs for p, r in after.routes.get(peer, {}).items()}
            changes += sum(1 for p in old.keys() | new.keys() if old.get(p) != new.get(p))
        out.append(
            {
                "cloud": name,
                "answers_through_now": was.preferred if was is not None else None,
                "answers_through_after": cloud.preferred,
                "why": cloud.why,
                "split_after": cloud.split,
                "route_changes": changes,
            }
        )
    return out


def _moves(
    engine: Engine,
    outs_after: dict[str, OutSet],
    pid_now: set[int],
    pid_after: set[int],
    egress_now: dict[int, str],
    egress_after: dict[int, str],
) -> dict[str, Any]:
    moved: list[dict[str, Any]] = []
    withdrawn: list[dict[str, Any]] = []
    unchanged = gained = moved_total = withdrawn_total = 0
    classes = engine.classifier.prefix_classes
    for prefix in engine.rib.keys() | outs_after.keys():
        entry = engine.rib.get(prefix)
        out_now = entry.out if entry else ()
        out_after = outs_after.get(prefix, ())
        before, _ = core_choice(out_now, pid_now)
        after, tie = core_choice(out_after, pid_after)
        e_before = egress_now.get(before) if before is not None else None
        e_after = egress_after.get(after) if after is not None else None
        if e_before == e_after:
            unchanged += 1
            continue
        if e_after is None:
            reason = "no announced path through an egress in service"
            if entry is not None:
                pc = classes[entry.prefix_class]
                foreign = {p.peer.egress for p in entry.paths if p.verdict.accepted} - {
                    egress_after.get(pid, "") for pid, _ in out_after
                }
                if pc.allowed is not None and foreign:
                    reason = (
                        f"compliance ({', '.join(pc.bound_by)}): only [{', '.join(sorted(pc.allowed))}] allowed; "
                        f"{', '.join(sorted(foreign))} never used"
                    )
            withdrawn_total += 1
            if len(withdrawn) < LIST_LIMIT:
                withdrawn.append({"prefix": prefix, "from": e_before, "reason": reason})
            continue
        if e_before is None:
            gained += 1
        moved_total += 1
        if len(moved) < LIST_LIMIT:
            moved.append({"prefix": prefix, "from": e_before, "to": e_after, "tie": tie})
    return {
        "moved": moved,
        "moved_total": moved_total,
        "withdrawn": withdrawn,
        "withdrawn_total": withdrawn_total,
        "unchanged": unchanged,
        "newly_reachable": gained,
    }
