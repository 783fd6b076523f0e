"""Packets lost while ExaBGP (and with it bgpsteer) restarts: before graceful restart, with it, with End-of-RIB by
bgpsteer.

Real daemons in network namespaces (lab/topology.py): a sequenced UDP stream of 1,000 datagrams/s from
the FRR core through the route server to a cloud prefix; ExaBGP is stopped with SIGTERM and started
again 3 s in.  Each lost datagram is a millisecond without forwarding.  Three renderings, same run:

- no-gr: the ExaBGP config as `bgpsteer exabgp-config` rendered it before graceful restart (agent.graceful_restart: 0);
- gr-auto-eor: graceful-restart 120 on the core session, but ExaBGP sends End-of-RIB itself, right after the
  session opens (manual-eor removed);
- gr-bgpsteer-eor: what bgpsteer renders now: graceful-restart 120 and manual-eor; bgpsteer sends End-of-RIB
  once its whole table is re-announced.

    python bench/restart.py --runs 3      (as root)
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import need_root, need_some  # noqa: E402
from lab.netlab import lab, wait_for  # noqa: E402
from lab.topology import LAB_CONFIG, build  # noqa: E402

MODES = ("no-gr", "gr-auto-eor", "gr-bgpsteer-eor")


def one(mode: str, tmp: Path) -> dict[str, int]:
    text = LAB_CONFIG.read_text()
    if mode == "no-gr":
        text = text.replace("agent:\n", "agent:\n  graceful_restart: 0\n", 1)
    config = tmp / f"{mode}.yaml"
    config.write_text(text)
    with lab() as lb:
        t = build(lb, config)
        wait_for("steered routes on the core", lambda: len(t.steered()) == 5, timeout=60)
        if mode == "gr-auto-eor":
            conf = lb.path("exabgp/exabgp.conf")
            conf.write_text(re.sub(r"\n\s*manual-eor true;", "", conf.read_text()))
            t.restart_exabgp()  # takes the edited config; then settle before the measured restart
            wait_for("steered routes on the core", lambda: len(t.steered()) == 5, timeout=60)
            time.sleep(5)
        t.data_plane()
        result = t.stream(seconds=14)
        time.sleep(3)
        t.restart_exabgp()
        r = result()
        return {"lost": int(r["lost"]), "received": int(r["received"]), "reordered": int(r["reordered"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="renderings to compare")
    args = ap.parse_args()
    need_root()
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-restart-"))
    results: dict[str, list[int]] = {m: [] for m in args.modes}
    for run in range(args.runs):
        for mode in args.modes:
            r = one(mode, tmp)
            need_some(f"datagrams received through the {mode} run", r["received"])
            results[mode].append(r["lost"])
            print(
                f"run {run + 1} {mode:<16} lost {r['lost']:>5} datagrams (= ms at 1,000/s), received "
                f"{r['received']:,}, "
                f"reordered {r['reordered']}",
                flush=True,
            )
    print(f"{'rendering':<16} {'median ms lost':>15} {'runs':>20}")
    for mode in args.modes:
        print(f"{mode:<16} {statistics.median(results[mode]):>15.0f} {', '.join(map(str, results[mode])):>20}")


if __name__ == "__main__":
    main()
