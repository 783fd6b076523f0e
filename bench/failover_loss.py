"""Packets lost when an egress fails, measured with real packets (lab/dataplane.py).

For each size N (default 1k and 10k prefixes, announced by both cloud gateways and all preferring egress fra),
with probes every 100 ms and fall 3, while constant-rate sequenced UDP streams (1000 packets/s, so one lost packet
is one millisecond) run from the site through fra: voice (DSCP EF: the core's realtime table) and unclassified
(the default table); a bulk TCP transfer runs alongside.

- bgpsteer: egress fra starts dropping everything (its probes and what it forwards) at t0.  Loss per stream, and
  the split: detection (t0 until the agent logs fra down) and convergence (the rest: the next-hop route's
  withdrawal reaching the core and its FIB);
- per-prefix re-announcement (for comparison, same lab): fra drops what it forwards (not its probes) and, at the
  same moment, ``bgpsteer drain fra`` re-announces every one of its N paths with LOCAL_PREF 0: the loss is the
  convergence of steering prefix by prefix; add bgpsteer's detection for a probe-detected failure;
- ``exabgp healthcheck`` with its defaults, watching fra's gateway with the same UDP probe during the same failure:
  the time until it withdraws (it steers nothing here: its loss would be at least that).

Prints numbers; asserts nothing.  Only the lab's own namespaces are used; every stream is bounded.

    .venv/bin/python bench/failover_loss.py --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.failover import Healthcheck  # noqa: E402
from bench.helpers.guard import need_root, need_some  # noqa: E402
from lab.dataplane import DATAPLANE_CONFIG, DataPlane, build  # noqa: E402
from lab.netlab import lab, wait_for  # noqa: E402

RATE = 1000.0
STREAM_SECONDS = 8.0
KINDS = ("voice", "bulk", "other", "sovereign")


def config_text() -> str:
    """The data-plane config with 100 ms probes (fall 3) and every extra prefix preferring fra."""
    text = DATAPLANE_CONFIG.read_text()
    text = text.replace("interval: 0.2, timeout: 0.19", "interval: 0.1, timeout: 0.09")
    text = text.replace('aws-eu-central-1: ["10.10.0.0/16 le 24"]', 'aws-eu-central-1: ["10.0.0.0/8 le 24"]')
    return text.replace("max_prefix: {limit: 1000, action: stop}", "max_prefix: {limit: 1000000, action: warn}")


def detected_at(dp: DataPlane, after: float) -> float | None:
    """When the agent decided fra was down: its journal's record of the event (the agent's wall clock)."""
    path = dp.lab.path("state") / "journal.jsonl"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if (
            r.get("kind") == "egress"
            and r.get("egress") == "fra"
            and r.get("class") is None
            and r.get("new") == "down"
            and r.get("t", 0) >= after
        ):
            return float(r["t"])
    return None


def lost_ms(result: dict[str, dict[str, int]], kind: str) -> float:
    """Lost packets in milliseconds (the stream's sequence numbers; packets never sent count as lost too)."""
    r = result[kind]
    return (RATE * STREAM_SECONDS - r["received"]) * 1000.0 / RATE


def recover(dp: DataPlane) -> None:
    dp.fail("fra", on=False)
    wait_for("everything back on fra", lambda: all(dp.core_egress(k) == "fra" for k in KINDS), 120)
    time.sleep(2)


def measure(n: int) -> dict[str, float]:
    extra = tuple(f"{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(n))
    with lab() as lb:
        dp = build(lb, extra_routes=extra, config_text=config_text())
        wait_for(
            f"{n} prefixes and the streams' routes via fra",
            lambda: all(dp.core_egress(k) == "fra" for k in KINDS),
            300,
            1,
        )
        wait_for("the whole table announced", lambda: dp.cli_json("status")["routes"]["prefixes"] >= n, 300, 1)
        time.sleep(3)
        hc = Healthcheck(lb, "10.250.1.2", "10.250.1.1", "udp")
        try:
            wait_for("healthcheck up", lambda: hc.first("announce", 0) is not None, timeout=60)
            # bgpsteer: probe-detected failure
            run = dp.traffic(STREAM_SECONDS, rate=RATE, flowing=True)
            time.sleep(2)
            dp.fail("fra")
            t0 = time.time()  # the forwarding drop is in place (the probes' a few ms before)
            got = run()
            seen = wait_for("the journal's record of fra down", lambda: detected_at(dp, t0), timeout=30)
            detection = float(seen) - t0
            wait_for("healthcheck withdraws", lambda: hc.first("withdraw", t0), timeout=60)
            hc_time = (hc.first("withdraw", t0) or t0) - t0
        finally:
            hc.stop()
        recover(dp)
        # per-prefix re-announcement of the same failure
        run = dp.traffic(STREAM_SECONDS, rate=RATE, flowing=True)
        time.sleep(2)
        dp.fail("fra", probes=False)
        drained = dp.cli("drain", "fra")
        assert drained.returncode == 0, drained.stderr
        per_prefix = run()
        dp.cli("undrain", "fra")
        recover(dp)
    return {
        "voice": lost_ms(got, "voice"),
        "other": lost_ms(got, "other"),
        "detection": detection * 1000,
        "pp_voice": lost_ms(per_prefix, "voice"),
        "pp_other": lost_ms(per_prefix, "other"),
        "healthcheck": hc_time * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    args = ap.parse_args()
    need_root()
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    need_some("sizes (--sizes)", sizes)
    results = {n: measure(n) for n in sizes}

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    print(f"milliseconds of loss at {RATE:.0f} packets/s (probes every 100 ms, fall 3)")
    print(
        f"{'prefixes':>9}  {'voice':>6}  {'unclassified':>12}  {'detection':>9}  {'convergence':>11}  "
        f"{'per-prefix voice':>16}  {'per-prefix uncl.':>16}  {'healthcheck':>11}"
    )
    for n, r in results.items():
        conv = max(r["voice"], r["other"]) - r["detection"]
        print(
            f"{n:>9,}  {f(r['voice']):>6}  {f(r['other']):>12}  {f(r['detection']):>9}  {f(conv):>11}  "
            f"{f(r['pp_voice']):>16}  {f(r['pp_other']):>16}  {f(r['healthcheck']):>11}"
        )
    print("voice / unclassified: bgpsteer, the failure detected by its probes (next-hop indirection: one withdrawal)")
    print("detection: the failure until the agent marks fra down; convergence: the rest of the worst stream's loss")
    print("per-prefix: the same failure handled by re-announcing every path of fra (drain), from the moment it")
    print("            started (no detection counted: add bgpsteer's detection for a probe-detected failure)")
    print("healthcheck: exabgp healthcheck with its defaults, time until it withdraws (a lower bound of its loss)")


if __name__ == "__main__":
    main()
