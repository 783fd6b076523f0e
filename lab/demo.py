"""The lab demo: real daemons, bgpsteer steering, failovers shown, everything torn down.

    sudo bash lab/demo.sh

Namespaces: rs (ExaBGP + bgpsteer), core (FRR: the default table, bulk traffic),
corert (FRR: the core's realtime VRF), aws and gcp (BIRD cloud gateways, and a
UDP reflector each that the egress probes measure and that injects delay).
Then the data-plane lab (lab/dataplane.py): real packets per class, counted at each egress; the same lab with its
load read from the network (lab/loadlab.py): real congestion relieved with no one pushing a number; then the
return-path lab (lab/returnlab.py): a cloud's answers moving when the egress they came back by fails.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab import dataplane, loadlab, returnlab
from lab.netlab import Frr, lab, wait_for
from lab.topology import NH_ROUTES, Topology, best_paths, build

EGRESS = {"10.255.0.1": "fra (via AWS TGW)", "10.255.0.2": "ams (via GCP Cloud Router)"}


def table(frr: Frr, title: str) -> None:
    print(f"\n== {title}  (vtysh 'show bgp ipv4 unicast json' on that FRR)")
    print(f"   {'prefix':<16} {'egress':<28} {'LOCAL_PREF':>10} {'MED':>5}  state")
    for prefix, paths in sorted(frr.routes().items()):
        if prefix in NH_ROUTES:
            continue
        for p in sorted(paths, key=lambda p: -p.get("locPrf", 0)):
            nh = p["nexthops"][0]["ip"]
            state = (
                "BEST"
                if p.get("bestpath") and p.get("valid")
                else ("backup" if p.get("valid") else "unusable (egress next-hop withdrawn)")
            )
            print(
                f"   {prefix:<16} {EGRESS.get(nh, nh):<28} {p.get('locPrf', ''):>10} {p.get('metric', ''):>5}  {state}"
            )


def cli(topo: Topology, *args: str) -> None:
    print(f"\n$ bgpsteer {' '.join(args)}")
    p = topo.cli(*args)
    print("   " + (p.stdout + p.stderr).rstrip().replace("\n", "\n   "))


def moved_off(frr: Frr, nh: str) -> bool:
    return nh not in best_paths(frr).values()


def main() -> None:
    with lab() as lb:
        print(
            "building the lab: ExaBGP + bgpsteer, an FRR core (default table + realtime VRF), two BIRD cloud gateways "
            "..."
        )
        topo = build(lb, classes=True)
        rt = topo.realtime
        assert rt is not None
        wait_for("steered routes on the core", lambda: len(topo.steered()) == 5 and len(rt.routes()) >= 5, timeout=60)
        time.sleep(2)
        table(topo.core, "steady state, default table (bulk)")
        cli(topo, "status")
        cli(topo, "explain", "10.30.0.7")
        cli(topo, "simulate", "--fail", "ams")

        print("\n== failover: the GCP gateway stops answering probes (nftables drop); its BGP session stays up")
        t0 = time.monotonic()
        topo.block_probes("gcp", True)
        wait_for("core off ams", lambda: moved_off(topo.core, "10.255.0.2"), timeout=30, interval=0.05)
        print(
            f"   the core moved every prefix off egress ams {time.monotonic() - t0:.2f} s after the drop "
            "(probes every 200 ms, fall 3; one BGP withdrawal: ams's next-hop route)"
        )
        table(topo.core, "after ams failed")
        cli(topo, "show", "egress")
        topo.block_probes("gcp", False)
        t1 = time.monotonic()
        wait_for("ams back", lambda: not moved_off(topo.core, "10.255.0.2"), timeout=60, interval=0.1)
        print(
            f"\n== ams recovered: traffic failed back {time.monotonic() - t1:.1f} s later (rise 3, then a 5 s "
            "hold-down)"
        )

        print(
            "\n== degradation: ams gets 60 ms slower (the reflector adds delay): over realtime's 40 ms SLA, inside "
            "bulk's 300 ms"
        )
        cli(topo, "simulate", "--degrade", "ams:latency=60ms")
        topo.impair("gcp", delay_ms=60, jitter_ms=2)
        t2 = time.monotonic()
        wait_for("realtime off ams", lambda: moved_off(rt, "10.255.0.2"), timeout=30, interval=0.1)
        print(
            f"   realtime VRF moved off ams {time.monotonic() - t2:.2f} s after the delay began; the default table "
            "did not move"
        )
        table(rt, "realtime VRF")
        table(topo.core, "default table (bulk), unchanged")
        cli(topo, "explain", "10.30.0.0/16", "--class", "realtime")
        topo.impair("gcp")
        cli(topo, "history", "10.30.0.0/16")
        print("\ntearing down the lab (all namespaces removed)")
    traffic_demo()
    relief_demo()
    return_demo()


KIND_TITLE = {
    "voice": "voice (EF, RTP)",
    "bulk": "bulk (TCP)",
    "other": "unclassified",
    "sovereign": "EU-bound 10.10.8.0/24",
}


def packets(dp: dataplane.DataPlane, title: str, seconds: float = 3.0) -> dict[str, Any]:
    """Every kind of traffic for a few seconds; print the packets each egress forwarded, per kind."""
    before = dp.counters()
    got = dp.traffic(seconds)()
    after = dp.counters()
    print(f"\n== {title}: packets each egress router forwarded in {seconds:g} s (nftables counters)")
    print(f"   {'traffic':<24} {'fra (EU)':>10} {'lon (UK)':>10}")
    for kind in dataplane.FLOWS:
        row = [after[e][kind] - before[e][kind] for e in ("fra", "lon")]
        print(f"   {KIND_TITLE[kind]:<24} {row[0]:>10} {row[1]:>10}")
    return got


def traffic_demo() -> None:
    with lab() as lb:
        print(
            "\n\nbuilding the data-plane lab: a site behind the core, two egress routers (fra in the EU, lon in the "
            "UK),\nthe core classifying with what `bgpsteer core-config` renders (nftables + ip rules + BIRD) ..."
        )
        dp = dataplane.build(lb)
        kinds = tuple(dataplane.FLOWS)
        wait_for("traffic routed", lambda: all(dp.core_egress(k) == "fra" for k in kinds), timeout=60)
        packets(dp, "steady state")

        print("\n== degradation: fra gets 60 ms slower: voice (realtime SLA 40 ms) moves, the rest stays")
        dp.degrade("fra", delay_ms=60, jitter_ms=2)
        wait_for("voice via lon", lambda: dp.core_egress("voice") == "lon", timeout=60)
        packets(dp, "fra degraded")
        dp.degrade("fra")
        wait_for("voice back", lambda: dp.core_egress("voice") == "fra", timeout=90)

        print("\n== failure: fra drops everything (BGP stays up), while the streams run at 1000 packets/s")
        run = dp.traffic(8.0, rate=1000.0, flowing=True)
        before = dp.counters()
        time.sleep(2)
        dp.fail("fra")
        got = run()
        after = dp.counters()
        print(f"   {'traffic':<24} {'fra (EU)':>10} {'lon (UK)':>10}")
        for kind in kinds:
            row = [after[e][kind] - before[e][kind] for e in ("fra", "lon")]
            print(f"   {KIND_TITLE[kind]:<24} {row[0]:>10} {row[1]:>10}")
        voice = got["voice"]
        print(
            f"   voice packets lost in the failover: {8000 - voice['received']} of 8000 "
            f"({(8000 - voice['received']) / 1000:.2f} s at 1000 packets/s; probes every 200 ms, fall 3)"
        )
        print("   EU-bound packets never leave through lon: with fra gone they have no compliant egress at all")
        dp.fail("fra", on=False)
        print("\ntearing down the data-plane lab (all namespaces removed)")


def relief_demo() -> None:
    """Relief on real load: counters by netlink and SNMP, volumes by softflowd's NetFlow, nothing pushed."""
    with lab() as lb:
        print(
            "\n\nbuilding the data-plane lab with its load read from the network: fra's counter by netlink, lon's by "
            "SNMP (snmpd on\nthe lon router), per-prefix volumes by NetFlow v9 from softflowd on the core; each egress "
            f"policed to {loadlab.CAPACITY_MBPS:g} Mbit/s ..."
        )
        ll = loadlab.build_counted(lb)
        d = ll.dp
        wait_for("both counters give rates", lambda: all(u["mbps"] is not None for u in ll.utilization().values()), 30)
        print("\n== 0.53 Mbit/s offered to fra's 0.4 (unclassified and EU-bound UDP); each second, as read:")
        print(
            f"   {'s':>3} {'fra Mbit/s (netlink)':>21} {'lon Mbit/s (snmp)':>18} {'flow volumes':>13}  10.10.0.0/16 via"
        )
        wait = d.traffic(25.0, rate=300.0, kinds=("other", "sovereign"))
        t0, moved = time.monotonic(), False
        while time.monotonic() - t0 < 20:  # bounded
            time.sleep(1.0)
            u, f = ll.utilization(), ll.flows()
            known = f"{f['volumes']['prefixes']} prefixes" if f["volumes"]["known"] else "unknown"
            via = d.core_egress("other")
            fra, lon = u["fra"]["mbps"], u["lon"]["mbps"]
            print(
                f"   {time.monotonic() - t0:>3.0f} {'-' if fra is None else f'{fra:.3f}':>21} "
                f"{'-' if lon is None else f'{lon:.3f}':>18} {known:>13}  {via}"
            )
            if via == "lon" and not moved:
                moved = True
                reason = d.cli_json("explain", "10.10.0.0/16")["relief"]
                if reason:
                    print(f"   explain 10.10.0.0/16: {reason['reason']}")
                print(f"   EU-bound 10.10.8.0/24 stays on fra: {d.core_egress('sovereign')} (never to the UK)")
                break
        wait()
        if not moved:
            print("   (no move within 20 s: see status)")
        wait_for("10.10.0.0/16 back on fra", lambda: d.core_egress("other") == "fra", 30)
        print("   load gone: fra's counter reads it below release, and 10.10.0.0/16 returned to fra")
        ll.stop()
        print("\ntearing down the load lab (all namespaces removed)")


def return_demo() -> None:
    """The replies: one cloud (an FRR playing an AWS Transit Gateway) reached through fra and ams."""
    fra, ams = returnlab.INSIDE["fra"][0], returnlab.INSIDE["ams"][0]
    name = {fra: "fra", ams: "ams"}
    with lab() as lb:
        print(
            "\n\nbuilding the return-path lab: an FRR playing an AWS Transit Gateway with a VPN attachment via fra "
            "and one via ams ..."
        )
        r = returnlab.build(lb)
        wait_for("the site at the TGW", lambda: all(len(r.tgw_paths(p)) == 2 for p in returnlab.SITE), 90)
        print("\n== what the TGW holds for the site (vtysh on the TGW): bgpsteer's MED marks the session to answer by")
        for prefix in returnlab.SITE:
            for peer, attrs in sorted(r.tgw_paths(prefix).items()):
                best = "BEST" if r.tgw_best(prefix) == [peer] else ""
                print(f"   {prefix:<16} via {name[peer]}  MED {attrs['med']:>4}  {best}")
        print("\n== fra's tunnel blackholes both ways, its BGP session still up; the TGW answers at 1000 packets/s")
        before = r.arrived()
        run = r.stream(6.0, rate=1000.0)
        r.blackhole("fra", True, everything=True)
        got = run()
        after = r.arrived()
        print(
            f"   answers via fra {after['fra'] - before['fra']}, via ams {after['ams'] - before['ams']}; lost "
            f"{got['lost']} of 6000 ({got['lost'] / 1000:.2f} s): bgpsteer announced halves of the site via ams,"
        )
        print("   which win at the TGW by longest match although it never heard fra's withdrawal:")
        for prefix, held in sorted(r.site_at_tgw().items()):
            print(
                f"   {prefix:<18} held via {', '.join(name[p] for p in sorted(held))}; "
                f"answers via {', '.join(name[p] for p in r.tgw_best(prefix))}"
            )
        r.blackhole("fra", False)
        print("\ntearing down the return-path lab (all namespaces removed)")


if __name__ == "__main__":
    main()
