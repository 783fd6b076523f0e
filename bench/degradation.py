"""Degradation benchmark: noisy probes must move nothing; a slow egress moves realtime, not bulk.

Real daemons (lab/topology.py build(classes=True)): the default core session
carries bulk, a second FRR is the core's realtime VRF.  Probes are UDP echoes
every 200 ms to reflectors in the cloud namespaces, which add the noise:

1. ``--minutes`` (default 5) of noise on both egresses: exponential jitter
   (mean 3 ms), 0.5 % loss, and a 25 ms spike on 1 % of probes; count the
   route changes bgpsteer makes (next-hop routes withdrawn or announced, any
   scope).  Goal: zero.
2. ams's latency rises by 60 ms (over realtime's 40 ms SLA, inside bulk's
   300 ms): time until the realtime VRF has moved off ams, and whether the
   default (bulk) table moved at all.

Prints numbers; asserts nothing.

    sudo .venv/bin/python bench/degradation.py --minutes 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import need_root, need_some  # noqa: E402
from lab.netlab import lab, wait_for  # noqa: E402
from lab.topology import best_paths as best  # noqa: E402
from lab.topology import build  # noqa: E402

AMS = "10.255.0.2"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=5.0)
    args = ap.parse_args()
    need_root()
    with lab() as lb:
        t = build(lb, classes=True)
        rt = t.realtime
        assert rt is not None
        wait_for("steered routes on both cores", lambda: len(t.steered()) == 5 and len(best(rt)) == 5, timeout=60)
        changes_before = sum(t.agent_log().count(w) for w in ("out of service", "in service"))
        for cloud in ("aws", "gcp"):
            t.lab.path(f"reflector-{cloud}.json").write_text(
                '{"jitter_ms": 3, "loss": 0.005, "spike_ms": 25, "spike": 0.01}'
            )
        default0, realtime0 = best(t.core), best(rt)
        end = time.monotonic() + args.minutes * 60
        flips = 0
        while time.monotonic() < end:  # bounded by --minutes; sample the cores every 5 s
            time.sleep(min(5.0, max(0.0, end - time.monotonic())))
            flips += (best(t.core) != default0) + (best(rt) != realtime0)
        changes = sum(t.agent_log().count(w) for w in ("out of service", "in service")) - changes_before
        samples = t.dump_state()["egresses"]
        probes = sum(x["sent"] for e in samples.values() for x in e["targets"].values())
        lost = sum(x["lost"] for e in samples.values() for x in e["targets"].values())
        need_some("probes sent during the noise phase", probes)
        t.impair("gcp", delay_ms=60, jitter_ms=3, loss=0.005)
        t0 = time.monotonic()
        wait_for("realtime off ams", lambda: AMS not in best(rt).values(), timeout=60, interval=0.1)
        moved = time.monotonic() - t0
        bulk_moved = best(t.core) != default0
    print(
        f"noise phase          {args.minutes:g} min, {probes:,} probes ({lost:,} lost), jitter mean 3 ms, 0.5% loss, "
        "1% spikes of 25 ms"
    )
    print(
        f"spurious moves       {changes} next-hop route changes by bgpsteer; {flips} of {2 * int(args.minutes * 12)} "
        "core samples differed (goal: 0)"
    )
    print(
        f"degradation          ams +60 ms: realtime VRF off ams after {moved:.2f} s; bulk table moved: "
        f"{'YES' if bulk_moved else 'no'}"
    )
    print(
        "settings             probes every 200 ms; realtime SLA 40 ms / 2% / 15 ms, fall 5, rise 5, hold-down 5 s, "
        "10% hysteresis"
    )


if __name__ == "__main__":
    main()
