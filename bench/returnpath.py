"""Return-path failover: how long the cloud keeps answering the site through a dead egress.

In the return-path lab (lab/returnlab.py: ExaBGP + bgpsteer, an FRR core, an FRR playing an AWS Transit Gateway
reached through two egresses, fra preferred; probes every 100 ms, fall 3), fra's tunnel is cut at the TGW for
everything that arrives from us (probes and BGP alike): bgpsteer's session via fra still looks up on both sides
until the TGW's hold timer (30 s) expires, and nothing bgpsteer sends over it arrives meanwhile.  Measured from
the cut, by polling every 20 ms (bounded by --timeout):

- outbound: the core router drops fra's next-hop route (bgpsteer's outbound failover);
- return: the TGW's longest match for a site address moves to the ams session (its FIB would send the replies
  there);

in two runs: the site with halves (``site.split``, the default) and without (the return path then moves only
when the TGW's hold timer takes the dead session down: the same failure without fast return steering).  Prints
numbers; asserts nothing.

    .venv/bin/python bench/returnpath.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_root, need_some  # noqa: E402
from lab.netlab import lab, wait_for  # noqa: E402
from lab.returnlab import INSIDE, SITE, build  # noqa: E402

SITE_ADDRESS = "10.100.200.1"
POLL = 0.02


def one(split: bool, timeout: float) -> tuple[float | None, float | None]:
    """(seconds until the core dropped fra's next-hop route, seconds until the TGW answers via ams)."""
    ams = INSIDE["ams"][0]
    with lab() as lb:
        r = build(lb, split=split)
        wait_for("the site at the TGW over both tunnels", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
        wait_for("fra preferred", lambda: r.answers_via(SITE_ADDRESS) == [INSIDE["fra"][0]], 30)
        t0 = time.monotonic()
        r.blackhole("fra", True, everything=True)
        out = back = None
        while time.monotonic() - t0 < timeout and (out is None or back is None):
            now = time.monotonic() - t0
            if out is None and "10.255.0.1/32" not in r.core.routes():
                out = now
            if back is None and r.answers_via(SITE_ADDRESS) == [ams]:
                back = now
            time.sleep(POLL)
        return out, back


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each move (bounded)")
    args = ap.parse_args()
    need_root()
    print(f"fra's tunnel cut at the TGW (probes and BGP); polled every {POLL * 1000:.0f} ms, {args.runs} run(s) each")
    print(f"{'mode':34} {'outbound (core) s':>18} {'return (TGW) s':>16}")
    rows = 0
    for split in (True, False):
        outs: list[float] = []
        backs: list[float] = []
        for _ in range(args.runs):
            out, back = one(split, args.timeout)
            if out is None:
                fail("the core never dropped fra's next-hop route: the outbound failover did not happen")
            outs.append(out)
            if back is not None:
                backs.append(back)
        mode = "halves on the live session (split)" if split else "without halves (split: false)"
        ret = f"{statistics.median(backs):.2f}" if backs else f">{args.timeout:.0f} (never)"
        print(
            f"{mode:34} {statistics.median(outs):>18.2f} {ret:>16}   (median of {args.runs}; all: "
            f"out {', '.join(f'{x:.2f}' for x in outs)}; return {', '.join(f'{x:.2f}' for x in backs) or '-'})"
        )
        rows += 1
    need_some("rows", rows)
    print(
        "reference: without return steering the TGW keeps answering through fra until its hold timer (30 s) "
        "ends the session, or for ever when the tunnel blackholes data while BGP stays up"
    )


if __name__ == "__main__":
    main()
