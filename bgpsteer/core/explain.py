"""Why a prefix leaves through its egress: the whole reasoning, in the words the journal and logs use.

For each candidate path: what import safety and the import policy did (the statement trace).  For each egress:
its best candidate, the checks it passed or failed (compliance, health, drain, the SLA of each application
class, the cost tie-break) and the export trace.  Then the ranking at the core for the scope's sessions
(core/ranking.py, the same function the decision and simulate use) and what each core session is sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bgpsteer.core.codes import reject_code
from bgpsteer.core.decision import DRAINED, best_per_egress
from bgpsteer.core.model import DEFAULT_SCOPE, Scope
from bgpsteer.core.relief import Move
from bgpsteer.core.viewtypes import PrefixDecision

if TYPE_CHECKING:
    from bgpsteer.core.engine import Engine

BEST_RULE = "by local-pref, as-path length, origin, MED, peer name"


def explain(
    engine: Engine, decision: PrefixDecision | None, move: Move | None, prefix: str, scope: Scope = DEFAULT_SCOPE
) -> dict[str, Any] | None:
    """``decision`` and ``move``: the read API's answers for this prefix (core/view.py), computed there once."""
    entry = engine.refresh(prefix)
    if entry is None or decision is None:
        return None
    pc = engine.classifier.prefix_classes[entry.prefix_class]
    export, steering = engine.exporter, engine.steering
    candidates = [
        {
            "peer": p.peer.name,
            "egress": p.peer.egress,
            "received": p.attrs.describe(),
            "accepted": p.verdict.accepted,
            "reject_code": int(reject_code(p.verdict.accepted, p.verdict.trace, p.verdict.error)),
            "trace": list(p.verdict.trace),
        }
        for p in entry.paths
    ]
    announced_by_pid = dict(entry.out)
    egresses = []
    for egress_id, (path, n) in sorted(best_per_egress(entry.paths).items()):
        e = engine.egresses[egress_id]
        checks = []
        blocked = pc.allowed is not None and e.jurisdiction not in pc.allowed
        if pc.allowed is None:
            checks.append("compliance: prefix not bound to a jurisdiction; pass")
        else:
            verdict = "never announced" if blocked else "pass"
            checks.append(
                f"compliance: {e.jurisdiction} {'not in' if blocked else 'in'} [{', '.join(sorted(pc.allowed))}] "
                f"({', '.join(pc.bound_by)}); {verdict}"
            )
        v = export.evaluate(path, entry.parsed, prefix, pc.export_sig)
        if blocked:
            checks.append("export policy: not consulted (compliance decides first)")
        tunnel = steering.tunnels.get(egress_id)
        held = steering.health[egress_id].blocked
        checks.append(
            (
                "health: in service"
                if steering.usable(egress_id)
                else f"health: OUT OF SERVICE (next-hop {e.next_hop} withdrawn: the core cannot use this path)"
            )
            + (f"; tunnel {tunnel.status}: {tunnel.why}" if tunnel is not None else "")
            + ("; the tunnel holds it down until its probes rise again" if held is not None else "")
        )
        if egress_id in export.drained:
            checks.append(f"drain: egress drained ({DRAINED})")
        sent = announced_by_pid.get(e.path_id)
        if v.accepted and v.attrs is not None and sent is not None and sent.local_pref != v.attrs.local_pref:
            checks.append(
                f"cost tie-break: local-pref {v.attrs.local_pref} -> {sent.local_pref} "
                f"(cost {e.cost_per_gb:g}/GB among egresses with equal policy preference)"
            )
        for c in steering.sla.app_classes:
            if scope.app_class is None or c == scope.app_class:
                fits = steering.sla.fits(c, egress_id)
                served = steering.usable(egress_id, Scope(c))
                checks.append(
                    f"class {c}: {'fits SLA' if fits else 'misses SLA'} "
                    f"({steering.sla.why[(c, egress_id)] or 'not measured yet'}); "
                    f"{'in service' if served else 'OUT of service'} for {c} sessions"
                    + (" (class fail static)" if c in steering.class_static else "")
                )
        egresses.append(
            {
                "egress": egress_id,
                "best": path.peer.name,
                "why": f"best of {n} accepted candidate(s) {BEST_RULE}",
                "exported": v.accepted and not blocked,
                "blocked_by": "compliance" if blocked else (None if v.accepted else "export policy"),
                "checks": checks,
                "trace": [] if blocked else list(v.trace),
            }
        )
    egress_of = engine.config.egress_of
    afi = entry.parsed[0]
    return {
        "prefix": prefix,
        "match": prefix,
        "class": scope.app_class,
        "candidates": candidates,
        "egresses": egresses,
        "announced": [
            {"path_id": pid, "egress": egress_of.get(pid, "?"), "attrs": a.describe()} for pid, a in entry.out
        ],
        "ranking": [
            {
                "rank": r.rank,
                "egress": r.egress,
                "path_id": r.path_id,
                "local_pref": r.attrs.local_pref,
                "med": r.attrs.med,
                "in_service": r.in_service,
                "tied_with_previous": r.tied_with_previous,
            }
            for r in decision.ranking
        ],
        "primary": decision.primary,
        "tie": decision.tie,
        "multipath": {egress: round(share, 4) for egress, share in decision.shares.items()},
        "relief": _relief(move),
        "core_routers": [
            {
                "name": c.name,
                "address": c.address,
                "class": c.app_class,
                "announced": [egress_of.get(pid, "?") for pid, _ in entry.out] if f"ipv{afi}" in c.families else [],
            }
            for c in engine.config.core_routers
        ],
    }


def _relief(m: Move | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"from": m.source, "to": m.target, "volume_mbps": m.volume_mbps, "since": m.at, "reason": m.reason}
