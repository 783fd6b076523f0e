"""The lab demo: real daemons, bgpsteer steering, a failover shown, everything torn down.

    sudo bash lab/demo.sh
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.netlab import lab, wait_for  # noqa: E402
from lab.topology import build  # noqa: E402

EGRESS = {"10.255.0.1": "fra (via AWS TGW)", "10.255.0.2": "ams (via GCP Cloud Router)"}


def table(topo, title: str) -> None:
    print(f"\n== {title}: FRR core's BGP RIB (vtysh 'show bgp ipv4 unicast json')")
    print(f"   {'prefix':<16} {'egress':<28} {'LOCAL_PREF':>10} {'MED':>5}  best")
    for prefix, paths in sorted(topo.steered().items()):
        for p in sorted(paths, key=lambda p: -p.get("locPrf", 0)):
            nh = p["nexthops"][0]["ip"]
            print(f"   {prefix:<16} {EGRESS.get(nh, nh):<28} {p.get('locPrf', ''):>10} {p.get('metric', ''):>5}  {'*' if p.get('bestpath') else ''}")


def main() -> None:
    with lab() as lb:
        print("building lab: namespaces rs (ExaBGP + bgpsteer), core (FRR), aws and gcp (BIRD) ...")
        topo = build(lb)
        wait_for("steered routes on the core", lambda: len(topo.steered()) == 5, timeout=60)
        time.sleep(1)
        table(topo, "steady state")
        pid = int(subprocess.run(["pgrep", "-f", "bgpsteer run --config"], capture_output=True, text=True).stdout.split()[0])
        os.kill(pid, signal.SIGUSR1)
        state = Path("/tmp/bgpsteer-lab-state/state.json")
        wait_for("state dump", state.exists, timeout=10)
        data = json.loads(state.read_text())
        print("\n== why does 10.10.0.0/16 prefer fra?  (bgpsteer inspect --prefix 10.10.0.0/16)")
        for c in data["explain"]["10.10.0.0/16"]["candidates"]:
            print(f"   {c['peer']:<12} via {c['egress']}: " + " | ".join(c["trace"]))
        print("\n== rejected at import, with reasons  (bgpsteer inspect --rejected)")
        for r in data["rejected"]:
            print(f"   {r['prefix']:<16} from {r['peer']:<12} {r['trace'][-1]}")
        print("\n== failover: the GCP gateway's BGP session goes down (birdc disable)")
        t0 = time.monotonic()
        topo.gcp.cmd("disable", "up4")
        wait_for("ams paths gone", lambda: all(p["nexthops"][0]["ip"] != "10.255.0.2" for ps in topo.steered().values() for p in ps), timeout=30)
        print(f"   core moved every prefix off egress ams in {time.monotonic() - t0:.2f} s (session-down driven; probe-driven failover is issue #3)")
        table(topo, "after the GCP gateway failed")
        topo.gcp.cmd("enable", "up4")
        wait_for("ams back", lambda: any(p["nexthops"][0]["ip"] == "10.255.0.2" for ps in topo.steered().values() for p in ps), timeout=60)
        time.sleep(1)
        table(topo, "after the GCP gateway recovered")
        print("\ntearing down the lab (all namespaces removed)")


if __name__ == "__main__":
    main()
