"""Return-path failover: how long the cloud keeps answering the site through a dead egress.

In the return-path lab (lab/returnlab.py: ExaBGP + bgpsteer, an FRR core, an FRR playing an AWS Transit Gateway
reached through two egresses, fra preferred; probes every 100 ms, fall 3), fra's tunnel is cut at the TGW for
everything that arrives from us (probes and BGP alike): bgpsteer's session via fra still looks up on both sides
until the TGW's hold timer (30 s) expires, and nothing bgpsteer sends over it arrives meanwhile.  Measured from
the cut, by polling every 20 ms (bounded by --timeout):

- outbound: the core router drops fra's next-hop route (bgpsteer's outbound failover);
- return: the TGW's longest match for a site address moves to the ams session (its FIB would send the replies
  there);

and, with real packets, the cloud's answers: a UDP stream from the vpc host behind the TGW to the site host
(1,000 datagrams/s for --seconds), so each datagram lost is a millisecond of return-path loss; and how many
arrived over each tunnel.

In two runs: the site with halves (``site.split``, the default) and without (the return path then moves only
when the TGW's hold timer takes the dead session down: the same failure without fast return steering).  Prints
numbers; asserts nothing.

    .venv/bin/python bench/returnpath.py --runs 3 --seconds 40
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_root, need_some  # noqa: E402
from lab.netlab import lab, wait_for  # noqa: E402
from lab.returnlab import INSIDE, SITE, build  # noqa: E402

SITE_ADDRESS = "10.100.200.1"
POLL = 0.02
RATE = 1000.0


def one(split: bool, seconds: float) -> tuple[float | None, float | None, dict[str, Any], dict[str, int]]:
    """(seconds until the core dropped fra's next-hop route, seconds until the TGW answers via ams, what the site
    received of the cloud's stream, datagrams per tunnel)."""
    ams = INSIDE["ams"][0]
    with lab() as lb:
        r = build(lb, split=split)
        wait_for("the site at the TGW over both tunnels", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
        wait_for("fra preferred", lambda: r.answers_via(SITE_ADDRESS) == [INSIDE["fra"][0]], 30)
        received = r.stream(seconds, RATE)
        t0 = time.monotonic()
        r.blackhole("fra", True, everything=True)
        out = back = None
        while time.monotonic() - t0 < seconds and (out is None or back is None):
            now = time.monotonic() - t0
            if out is None and "10.255.0.1/32" not in r.core.routes():
                out = now
            if back is None and r.answers_via(SITE_ADDRESS) == [ams]:
                back = now
            time.sleep(POLL)
        return out, back, received(), r.arrived()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=40.0, help="the stream's length, and the longest wait for a move")
    args = ap.parse_args()
    need_root()
    print(
        "fra's tunnel cut at the TGW (everything, both ways; BGP still up until the TGW's 30 s hold timer); "
        f"RIBs polled every {POLL * 1000:.0f} ms; the cloud's answers at {RATE:.0f} datagrams/s for "
        f"{args.seconds:g} s; {args.runs} run(s) each"
    )
    print(
        f"{'mode':34} {'outbound (core) s':>18} {'return (TGW RIB) s':>19} {'answers lost (ms)':>18} "
        f"{'via fra':>8} {'via ams':>8}"
    )
    rows = 0
    for split in (True, False):
        mode = "halves on the live session (split)" if split else "without halves (split: false)"
        outs: list[float] = []
        backs: list[float] = []
        lost: list[int] = []
        for _ in range(args.runs):
            out, back, got, tunnels = one(split, args.seconds)
            if out is None:
                fail("the core never dropped fra's next-hop route: the outbound failover did not happen")
            need_some("datagrams the site received of the cloud's stream", int(got.get("received", 0)))
            outs.append(out)
            lost.append(int(got["lost"]))
            if back is not None:
                backs.append(back)
            ret = f"{back:.2f}" if back is not None else f">{args.seconds:g} (not yet)"
            print(
                f"{mode:34} {out:>18.2f} {ret:>19} {got['lost']:>18} {tunnels.get('fra', 0):>8} "
                f"{tunnels.get('ams', 0):>8}"
            )
            rows += 1
        ret = f"{statistics.median(backs):.2f}" if len(backs) == len(outs) else "-"
        print(f"{'  median':34} {statistics.median(outs):>18.2f} {ret:>19} {statistics.median(lost):>18.0f}")
    need_some("rows", rows)
    print(
        "reference: without return steering the TGW keeps answering through fra until its hold timer (30 s) "
        "ends the session, or for ever when the tunnel blackholes data while BGP stays up"
    )


if __name__ == "__main__":
    main()
