"""Prometheus series per agent: what one bgpsteer's /metrics page costs a Prometheus, as a function of the
configuration (egresses, classes, cloud peers, compliance rules) and not of the routes it holds.

Each run builds an in-process agent (the FakeExaBGP tier: the real helper, no daemons) from a generated config,
brings its sessions up, feeds it PREFIXES routes per peer, and counts the samples its metrics page renders (each
sample line is one series in Prometheus).  Printed: the count per shape, and the fitted cost of one more egress,
class x egress and compliance rule; the runs with 0 and with --prefixes routes show that routes add no series
per route.  Asserts
nothing.

    python bench/series.py --prefixes 2000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.helpers.guard import fail
from bgpsteer.config.loader import parse
from bgpsteer.noc.metrics import Metrics
from tests.fake_exabgp import Clock, FakeExaBGP, state, update

CORE = "10.250.0.2"


def config(egresses: int, classes: int, compliance: int) -> str:
    lines = ["agent: {local_asn: 65000, router_id: 10.250.0.1, state_dir: /tmp/bgpsteer-bench-series}", "egresses:"]
    for i in range(egresses):
        lines.append(
            f"  - {{id: e{i}, region: r{i}, jurisdiction: {'EU' if i % 2 else 'US'}, "
            f"next_hop: 10.255.{i // 250}.{i % 250 + 1}}}"
        )
    lines.append("cloud_peers:")
    for i in range(egresses):
        lines.append(
            f"  - {{name: p{i}, address: 10.{100 + i // 250}.{i % 250}.2, asn: {64512 + i}, egress: e{i}, "
            f"provider: aws, region: r{i}}}"
        )
    lines += ["core_routers:", f"  - {{name: core1, address: {CORE}, asn: 65000}}"]
    if classes:
        lines.append("classes:")
        lines += [f"  - {{name: c{i}, objective: cost}}" for i in range(classes)]
    if compliance:
        lines += ["sets:", "  prefix:"]
        lines += [f'    s{i}: ["44.{i}.0.0/16 le 24"]' for i in range(compliance)]
        lines.append("compliance:")
        lines += [f"  - {{name: k{i}, prefixes: s{i}, jurisdictions: [EU]}}" for i in range(compliance)]
    lines += ["policy:", "  import: {default: accept}", "  export: {default: accept}"]
    return "\n".join(lines) + "\n"


def series(egresses: int, classes: int, compliance: int, prefixes: int) -> int:
    fake = FakeExaBGP(parse(config(egresses, classes, compliance), "series.yaml"), Clock())
    fake.agent.start()
    peers = [f"10.{100 + i // 250}.{i % 250}.2" for i in range(egresses)]
    fake.feed(state(CORE), *(state(p) for p in peers))
    routes = [f"44.{i // 250}.{i % 250}.0/24" for i in range(prefixes)]
    for i, p in enumerate(peers):
        if routes:
            fake.feed(update(p, routes, asn=64512 + i))
    page = Metrics(fake.agent).render().decode()
    got = sample(page, "bgpsteer_routes_received_total")
    if got != prefixes * egresses or sample(page, "bgpsteer_exabgp_malformed_lines_total"):
        fail(f"the agent holds {got:.0f} routes of the {prefixes * egresses} fed (or rejected lines as malformed)")
    return sum(1 for line in page.splitlines() if line and not line.startswith("#"))


def sample(page: str, name: str) -> float:
    """The value of an unlabelled sample on a metrics page."""
    for line in page.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    fail(f"{name} is not on the metrics page")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefixes", type=int, default=2000, help="routes per peer in the 'with routes' runs")
    args = ap.parse_args()
    base = series(2, 0, 0, 0)
    e4 = series(4, 0, 0, 0)
    per_egress = (e4 - base) / 2  # one egress brings its cloud peer here (one per egress, as in the labs)
    c2 = series(2, 2, 0, 0)
    per_class_egress = (c2 - base) / 4
    k2 = series(2, 0, 2, 0)
    per_rule = (k2 - base) / 2
    print(f"{'egresses':>8} {'classes':>7} {'rules':>5} {'prefixes/peer':>13} {'series':>7}")
    for e, c, k, n in (
        (2, 0, 0, 0),
        (2, 0, 0, args.prefixes),
        (4, 0, 0, 0),
        (2, 2, 0, 0),
        (2, 0, 2, 0),
        (8, 2, 1, 0),
        (8, 2, 1, args.prefixes),
        (16, 3, 2, 0),
    ):
        print(f"{e:>8} {c:>7} {k:>5} {n:>13} {series(e, c, k, n):>7}")
    fixed = base - 2 * per_egress
    print(
        f"fit: {fixed:.0f} fixed + {per_egress:.0f} per egress (with its cloud peer) + {per_class_egress:.0f} per "
        f"class x egress + {per_rule:.0f} per compliance rule; routes add only the first samples of counters "
        "(2 here), none per route"
    )
    print(f"e.g. 16 egresses, 3 classes, 2 rules: {fixed + 16 * per_egress + 48 * per_class_egress + 2 * per_rule:.0f}")


if __name__ == "__main__":
    main()
