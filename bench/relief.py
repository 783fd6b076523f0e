"""Relief benchmark: how long an overloaded egress takes to be relieved, and how close the result is to the ideal
balance, in a closed loop around the pure core (core/relief.py through the Engine).

Every prefix is announced through three egresses (fra preferred by policy, then lon, then ams); each prefix carries
a heavy-tailed volume (Pareto, as real per-prefix traffic is).  Each simulated second the egress utilizations are
what the core's current choice puts on them (the sum of the volumes of the prefixes each egress is primary for),
reported to the engine as the agent's ``load`` command does, and the clock ticks.  Printed per offered load:
seconds from the overload to every egress at or below the threshold, prefixes moved, the highest utilization
after relief against the ideal balance (total traffic / total capacity: what perfect spreading would give),
whether anything moved again afterwards (oscillation), and the wall time of one relief step.  Asserts nothing.

    python bench/relief.py --prefixes 2000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.helpers.guard import need_some
from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import RoutesAnnounced

CONFIG = """
agent: {{local_asn: 65000, router_id: 10.0.0.1}}
egresses:
  - {{id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1, capacity_mbps: {fra}}}
  - {{id: ams, region: eu-west, jurisdiction: EU, next_hop: 10.255.0.2, capacity_mbps: {ams}}}
  - {{id: lon, region: uk, jurisdiction: UK, next_hop: 10.255.0.3, capacity_mbps: {lon}}}
cloud_peers:
  - {{name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}}
  - {{name: gcp, address: 10.2.0.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}}
  - {{name: azure, address: 10.3.0.2, asn: 8075, egress: lon, provider: azure, region: uksouth}}
core_routers:
  - {{name: core1, address: 10.0.0.2, asn: 65000}}
steering:
  relief: {{threshold_pct: {threshold}, release_pct: {release}, hold: {hold}, max_moves: {max_moves}}}
policy:
  import:
    default: accept
    statements:
      - {{name: fra, match: {{egress: fra}}, set: {{local_pref: 300}}, then: accept}}
      - {{name: lon, match: {{egress: lon}}, set: {{local_pref: 250}}, then: accept}}
      - {{name: ams, match: {{egress: ams}}, set: {{local_pref: 200}}, then: accept}}
  export: {{default: accept}}
"""
PEERS = [("10.1.0.2", 64512), ("10.2.0.2", 16550), ("10.3.0.2", 8075)]
CAPACITY = {"fra": 1000.0, "ams": 1000.0, "lon": 1000.0}


def build(prefixes: list[str], args: argparse.Namespace) -> Engine:
    text = CONFIG.format(
        threshold=args.threshold,
        release=args.release,
        hold=args.hold,
        max_moves=args.max_moves,
        **{k: int(v) for k, v in CAPACITY.items()},
    )
    eng = Engine(parse(text, "bench-relief.yaml"))
    eng.start(0.0)
    for peer, asn in PEERS:
        eng.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(asn,)), prefixes), 0.0)
    eng.flush(0.0)
    need_some("prefixes the engine can route", sum(1 for p in prefixes if eng.core_order_of(p)))
    return eng


def utilization(eng: Engine, volumes: dict[str, float]) -> dict[str, float]:
    """What the core's current choice puts on each egress (Mbit/s)."""
    util = dict.fromkeys(CAPACITY, 0.0)
    for prefix, vol in volumes.items():
        order = eng.core_order_of(prefix)
        if order:
            util[order[0]] += vol
    return util


def run(load: float, args: argparse.Namespace, rng: random.Random) -> dict[str, float]:
    prefixes = [f"10.{20 + i // 256}.{i % 256}.0/24" for i in range(args.prefixes)]
    raw = [rng.paretovariate(1.3) for _ in prefixes]
    total = load * CAPACITY["fra"]
    volumes = {p: total * r / sum(raw) for p, r in zip(prefixes, raw, strict=True)}
    eng = build(prefixes, args)
    threshold = args.threshold / 100
    relieved_at: float | None = None
    moves_after = 0
    step_ms: list[float] = []
    moved_total = 0
    peak_after = 0.0
    for second in range(args.seconds):
        now = float(second)
        util = utilization(eng, volumes)
        over = any(u > CAPACITY[e] * threshold for e, u in util.items())
        if relieved_at is None and not over and second > 0:
            relieved_at = now
        if relieved_at is not None:
            peak_after = max(peak_after, max(u / CAPACITY[e] for e, u in util.items()))
        t0 = time.perf_counter()
        before = len(eng.relief.moved) if eng.relief else 0
        eng.report_load(util, volumes if second == 0 else {}, now)
        eng.tick(now)
        step_ms.append((time.perf_counter() - t0) * 1000)
        after = len(eng.relief.moved) if eng.relief else 0
        moved_total += max(0, after - before)
        if relieved_at is not None and now > relieved_at and after != before:
            moves_after += 1
    ideal = total / sum(CAPACITY.values())
    return {
        "load": load,
        "ideal": ideal,
        "relieved_after": -1.0 if relieved_at is None else relieved_at,
        "moved": moved_total,
        "peak_after": peak_after,
        "changes_after": moves_after,
        "step_ms": sorted(step_ms)[len(step_ms) // 2],
        "step_ms_max": max(step_ms),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefixes", type=int, default=2000)
    ap.add_argument("--loads", default="0.7,1.0,1.5,2.0,2.2,2.4", help="offered load, in multiples of fra's capacity")
    ap.add_argument("--threshold", type=float, default=80)
    ap.add_argument("--release", type=float, default=60)
    ap.add_argument("--hold", type=float, default=5)
    ap.add_argument("--max-moves", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(
        f"{args.prefixes} prefixes, Pareto(1.3) volumes; 3 egresses of 1000 Mbit/s; threshold {args.threshold:g}%, "
        f"release {args.release:g}%, hold {args.hold:g} s, max {args.max_moves} moves per round"
    )
    print(
        f"{'load':>5} {'ideal':>6} {'relieved':>9} {'moved':>6} {'peak after':>10} {'vs ideal':>9} "
        f"{'moves later':>11} {'step ms':>8} {'max':>6}"
    )
    loads = [float(x) for x in args.loads.split(",") if x.strip()]
    need_some("offered loads (--loads)", loads)
    for load in loads:
        r = run(load, args, rng)
        relieved = "never" if r["relieved_after"] < 0 else f"{r['relieved_after']:.0f} s"
        vs = (r["peak_after"] / r["ideal"] - 1) * 100 if r["relieved_after"] >= 0 else float("nan")
        print(
            f"{load:5.1f} {r['ideal'] * 100:5.1f}% {relieved:>9} {r['moved']:6.0f} {r['peak_after'] * 100:9.1f}% "
            f"{vs:+8.1f}% {r['changes_after']:11.0f} {r['step_ms']:8.2f} {r['step_ms_max']:6.1f}"
        )
    print("relieved: simulated seconds until no egress is above the threshold (0 s: it never was)")
    print("vs ideal: the highest egress utilization once relieved, against total traffic / total capacity")


if __name__ == "__main__":
    main()
