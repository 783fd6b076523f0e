"""Closed loop: how long after a cause is injected on the core bgpsteer declares drift, by each source, beside how
long the core itself takes to apply the change, in one run; and how long until the drift ends once it is taken away.

In the closed loop's lab (lab/closedloop.py: ExaBGP + bgpsteer, an FRR 8.4 core read by CLI every ``--interval``
s and by BMP, drift after a ``--window`` s; two BIRD clouds), per run and cause:

- ``route-map``: a route-map on the core's session sets LOCAL_PREF 7 on 10.10.0.0/16 (``local-pref`` drift);
- ``dropped``: a prefix-list on the core's session drops 10.10.0.0/16 (``missing``: as if the UPDATE never came);
- ``restart``: ExaBGP restarts (graceful restart towards the core) while both clouds stop announcing
  10.10.0.0/16; FRR 8.4 keeps one of its two stale ADD-PATH paths after End-of-RIB (``stale``; CLI only: BMP
  shows the path, not its staleness).  Timed from the restarted helper's whole table (its End-of-RIB to the
  core), not from the restart.

The core's time is when vtysh first shows the change (for ``restart``: one stale path left, End-of-RIB processed;
polled every 50 ms: an upper bound by a vtysh call's tens of ms). bgpsteer's times are the journal's own records
(``kind: drift``, the agent's wall clock when it declared the drift, or its end), so they carry no polling error.
The floor is ``window`` plus up to one ``interval`` (CLI); BMP adds FRR's own delay before it sends.
Prints numbers; asserts nothing.

    .venv/bin/python bench/drift.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_root, need_some  # noqa: E402
from lab.closedloop import PREFIX, drop_update, monitored, route_map_local_pref, verify  # noqa: E402
from lab.netlab import lab, wait_for  # noqa: E402
from lab.topology import AWS_ROUTES, GCP_ROUTES, Topology  # noqa: E402

POLL = 0.05
CAUSES = ("route-map", "dropped", "restart")
KIND = {"route-map": "local-pref", "dropped": "missing", "restart": "stale"}
SOURCES = ("cli", "bmp")


def journal(t: Topology) -> Path:
    return Path(t.settings.state_dir) / "journal.jsonl"


def records(t: Topology, since: float, state: str) -> dict[str, float]:
    """source -> the wall time of the first journalled drift ``state`` ("started"/"ended") of PREFIX after since."""
    out: dict[str, float] = {}
    for line in journal(t).read_bytes().splitlines():
        r = json.loads(line) if line.strip() else {}
        if r.get("kind") == "drift" and r.get("prefix") == PREFIX and r.get("state") == state and r["t"] >= since:
            out.setdefault(str(r["source"]), float(r["t"]))
    return out


def core_sees(t: Topology, cause: str) -> bool:
    paths = t.core.routes().get(PREFIX, [])
    if cause == "route-map":
        return bool(paths) and all(p.get("locPrf") == 7 for p in paths)
    if cause == "dropped":
        return not paths
    return len(paths) == 1 and bool(paths[0].get("stale"))  # End-of-RIB processed: one of the two stale paths left


def timed(what: str, predicate: Callable[[], Any], since: float, limit: float) -> float | None:
    """Seconds from ``since`` (wall clock) until predicate holds, polled every POLL s; None: not within limit."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return time.time() - since
        time.sleep(POLL)
    print(f"  ({what}: not within {limit:g} s)")
    return None


def inject(t: Topology, cause: str, on: bool) -> None:
    if cause == "route-map":
        route_map_local_pref(t, on)
    elif cause == "dropped":
        drop_update(t, on)
    elif on:
        old = t.helper_pid()

        def withdrawn() -> None:
            t.aws_announce([r for r in AWS_ROUTES if r != PREFIX])
            t.gcp_announce([r for r in GCP_ROUTES if r != PREFIX])

        t.restart_exabgp(meanwhile=withdrawn)
        t.wait_started(old, timeout=120)
    else:
        t.aws_announce(AWS_ROUTES)
        t.gcp_announce(GCP_ROUTES)


def one(t: Topology, cause: str, limit: float) -> dict[str, float | None]:
    """One injection and its removal: the core's time, each source's found and ended times (None: not seen)."""
    wait_for("a clean verify", lambda: verify(t)[0] == 0, timeout=120)
    t0 = time.time()
    inject(t, cause, True)
    if cause == "restart":  # from the helper's whole table (End-of-RIB): before it, nothing is there to find
        s = t.status() or fail("no status from the restarted helper")
        t0 = s["time"] - s["uptime_s"] + s["runtime"]["table_complete_after_s"]
    row: dict[str, float | None] = {"core": timed("the core", lambda: core_sees(t, cause), t0, limit)}
    sources = ("cli",) if cause == "restart" else SOURCES
    wait_for("every source's drift", lambda: set(sources) <= records(t, t0, "started").keys(), timeout=limit)
    found = records(t, t0, "started")
    row |= {f"{s} found": found[s] - t0 for s in sources}
    t1 = time.time()
    inject(t, cause, False)
    wait_for("the drift ended", lambda: set(sources) <= records(t, t1, "ended").keys(), timeout=limit)
    ended = records(t, t1, "ended")
    row |= {f"{s} ended": ended[s] - t1 for s in sources}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--interval", type=float, default=1.0, help="the CLI reading's interval, s")
    ap.add_argument("--window", type=float, default=2.0, help="the convergence window, s")
    ap.add_argument("--limit", type=float, default=90.0, help="the longest wait for anything, s")
    ap.add_argument("--causes", default=",".join(CAUSES), help=f"comma-separated (default: {', '.join(CAUSES)})")
    args = ap.parse_args()
    need_root()
    causes = [c.strip() for c in args.causes.split(",") if c.strip()]
    if unknown := [c for c in causes if c not in CAUSES]:
        fail(f"unknown cause(s) {', '.join(unknown)}; known: {', '.join(CAUSES)}")
    columns = ("core", "cli found", "bmp found", "cli ended", "bmp ended")
    print(
        f"CLI read every {args.interval:g} s, window {args.window:g} s, BMP post-policy; {args.runs} run(s) per cause"
    )
    print(f"{'cause (drift kind)':24}" + "".join(f"{c + ' s':>12}" for c in columns))
    rows = 0
    with lab() as lb:
        t = monitored(lb, interval=args.interval, window=args.window)
        for cause in causes:
            got: list[dict[str, float | None]] = []
            for _ in range(args.runs):
                row = one(t, cause, args.limit)
                got.append(row)
                rows += 1
                cells = [row.get(c) for c in columns]
                print(f"{cause + ' (' + KIND[cause] + ')':24}" + "".join(_cell(v) for v in cells))
            print(f"{'  median':24}" + "".join(_cell(_median([r.get(c) for r in got])) for c in columns))
    need_some("rows", rows)


def _median(values: list[float | None]) -> float | None:
    seen = [v for v in values if v is not None]
    return statistics.median(seen) if seen else None


def _cell(v: float | None) -> str:
    return f"{v:>12.2f}" if v is not None else f"{'-':>12}"


if __name__ == "__main__":
    main()
