"""Relief on real congestion with no one pushing a number (issue 28): the data-plane lab's egress utilization is
read from the network itself, fra's by netlink (the core's interface towards the fra router: octets sent) and
lon's by SNMP (Debian's snmpd in the lon router's namespace: IF-MIB ifHCInOctets of its interface from the core),
and the per-prefix volumes come from flow export (Debian's softflowd on the core's site-facing interface, NetFlow
v9, 1-in-2 sampled, to bgpsteer's collector).  fra is overloaded by real packets (an nftables policer at its
capacity) and its largest movable prefix goes to lon; an SNMP agent that stops is unknown, never zero, and its
restart is a counter reset, not a rate; a softflowd that stops leaves the volumes unknown."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.dataplane import DATAPLANE_CONFIG, EGRESS_NS, DataPlane, build, with_relief
from lab.flowexport import softflowd
from lab.netlab import lab, sh, wait_for
from lab.textedit import named, yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("snmpd", "softflowd")

CAPACITY_MBPS = 0.4
POLICER_KBYTES = int(CAPACITY_MBPS * 1e6 / 8 / 1000)
FLOW_WINDOW = 5.0  # seconds: softflowd exports a long flow every 2 s (maxlife=2)


def interface(dp: DataPlane, ns: str, address: str) -> str:
    for line in sh("ip", "-o", "-4", "addr", "show", ns=dp.lab.ns(ns)).splitlines():
        if f" {address}/" in line:
            return line.split()[1]
    raise AssertionError(f"no interface with {address} in {ns}")


def start_snmpd(dp: DataPlane) -> subprocess.Popen[bytes]:
    conf = dp.lab.path("snmpd-lon.conf")
    conf.write_text("agentaddress udp:10.252.2.2:161\nrocommunity public 10.250.0.1\n")
    return dp.lab.spawn(
        EGRESS_NS["lon"],
        ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-p", str(dp.lab.path("snmpd.pid"))],
        "snmpd.log",
    )


@pytest.fixture(scope="module")
def dp() -> Iterator[tuple[DataPlane, list[subprocess.Popen[bytes]]]]:
    with lab() as lb:
        d = build(lb, config_text=yaml_edited(DATAPLANE_CONFIG.read_text(), with_relief(CAPACITY_MBPS)))
        for egress in ("fra", "lon"):
            d.shape(egress, POLICER_KBYTES)
        d.meter_flows()
        # SNMP from the route server to the lon router, through the core (which routes between its links)
        sh("ip", "route", "replace", "10.252.0.0/16", "via", "10.250.0.2", ns=lb.ns("rs"))
        sh("ip", "route", "replace", "10.250.0.0/30", "via", "10.252.2.1", ns=lb.ns(EGRESS_NS["lon"]))
        # the core exports what its site-facing interface carries to the collector on the route server
        procs = [start_snmpd(d), softflowd(lb, "core", interface(d, "core", "10.251.0.1"), "10.250.0.1:2055", "9", 2)]
        towards_fra = interface(d, "core", "10.252.1.1")
        from_core = interface(d, EGRESS_NS["lon"], "10.252.2.2")

        def counted(doc: dict[str, Any]) -> None:
            named(doc["egresses"], "fra")["utilization"] = {
                "type": "netlink",
                "device": towards_fra,
                "netns": lb.ns("core"),
                "interval": 1,
            }
            named(doc["egresses"], "lon")["utilization"] = {
                "type": "snmp",
                "host": "10.252.2.2",
                "device": from_core,
                "direction": "in",
                "interval": 1,
                "timeout": 0.5,
                "retries": 0,
            }

            doc["steering"]["relief"]["flows"] = {
                "listen": "10.250.0.1",
                "port": 2055,
                "window": FLOW_WINDOW,
                "exporters": [{"address": "10.250.0.2"}],
            }

        wait_for("the agent's control socket", lambda: d.cli("status").returncode == 0, 60)
        d.config.write_text(yaml_edited(d.config.read_text(), counted))
        assert d.cli("reload").returncode == 0
        wait_for("traffic via fra", lambda: d.core_egress("other") == "fra", 60)
        yield d, procs  # snmpd, softflowd
        for p in procs:
            p.kill()


def utilization(d: DataPlane) -> dict[str, dict[str, Any]]:
    return {e["egress"]: e for e in d.cli_json("status")["utilization"]}


def flows(d: DataPlane) -> dict[str, Any]:
    f = d.cli_json("status")["flows"]
    assert f is not None
    return dict(f)


def test_counters_and_flows_read_without_a_pusher_drive_relief(
    dp: tuple[DataPlane, list[subprocess.Popen[bytes]]],
) -> None:
    d, _ = dp
    wait_for("both counters give rates", lambda: all(u["mbps"] is not None for u in utilization(d).values()), 30)
    u = utilization(d)
    assert (u["fra"]["source"], u["lon"]["source"]) == ("counter", "counter")
    assert u["fra"]["counter"]["where"].startswith("netlink ")
    assert u["lon"]["counter"]["where"].startswith("snmp 10.252.2.2:161 ")
    refused = d.cli("load", "--egress", "fra=1")
    assert refused.returncode == 2
    assert "fra: utilization is read from interface counters" in refused.stderr
    refused = d.cli("load", "--prefix", "10.10.0.0/16=1")
    assert refused.returncode == 2
    assert "volumes are read from flow export" in refused.stderr
    wait = d.traffic(30.0, rate=300.0, kinds=("other", "sovereign"))  # ~0.53 Mbit/s offered to fra's 0.4
    t0, moved, peak = time.monotonic(), None, 0.0
    while time.monotonic() - t0 < 25:  # bounded: the overload, the hold, the move
        time.sleep(1.0)
        peak = max(peak, utilization(d)["fra"]["mbps"] or 0.0)
        if d.core_egress("other") == "lon":
            moved = time.monotonic() - t0
            break
    x = d.cli_json("explain", "10.10.0.0/16")  # while the load lasts: once it ends the prefix goes back
    wait()
    assert moved is not None, utilization(d)
    print(f"fra read at up to {peak:.3f} Mbit/s by netlink; 10.10.0.0/16 moved to lon after {moved:.1f}s")
    assert peak > CAPACITY_MBPS * 0.8
    assert d.core_egress("sovereign") == "fra"  # EU-bound: never to the UK
    assert x["relief"] is not None, x
    assert (x["relief"]["from"], x["relief"]["to"]) == ("fra", "lon")
    assert "(counter; threshold 80% for 1s)" in x["relief"]["reason"]
    assert "Mbit/s (flow) moved to lon" in x["relief"]["reason"]
    # the load gone, fra's counter reads it below release: the prefix returns, on the counter alone
    wait_for("10.10.0.0/16 back on fra", lambda: d.core_egress("other") == "fra", 30)
    f = flows(d)
    exporter = f["exporters"][0]
    assert exporter["address"] == "10.250.0.2"
    assert exporter["datagrams"] > 0
    assert exporter["sampling"] == 2  # softflowd -s 2 says so in its options record
    assert f["dropped"]["unlisted_exporter"] == 0
    text = d.cli("status").stdout
    assert "counter: netlink " in text
    assert "flow collector 10.250.0.1:2055" in text


def test_an_exporter_that_stops_leaves_the_volumes_unknown(dp: tuple[DataPlane, list[subprocess.Popen[bytes]]]) -> None:
    d, procs = dp
    wait = d.traffic(15.0, rate=300.0, kinds=("other",))
    wait_for("volumes from flows", lambda: flows(d)["volumes"]["known"], 20)
    procs[1].kill()  # softflowd dies while the traffic still flows
    procs[1].wait(10)
    # no record within the window: the volumes are unknown, never zero, and the exporter shows as silent
    wait_for("volumes unknown", lambda: not flows(d)["volumes"]["known"], FLOW_WINDOW + 10)
    assert flows(d)["exporters"][0]["silent"]
    wait()


def test_an_snmp_agent_that_stops_is_unknown_and_its_restart_a_reset(
    dp: tuple[DataPlane, list[subprocess.Popen[bytes]]],
) -> None:
    d, snmpd = dp
    wait_for("lon's rate", lambda: utilization(d)["lon"]["mbps"] is not None, 30)
    resets = utilization(d)["lon"]["counter"]["resets"]
    snmpd[0].kill()
    snmpd[0].wait(10)
    wait_for("lon unknown", lambda: utilization(d)["lon"]["load_pct"] is None, 30)  # stale after 3 s: unknown
    lon = utilization(d)["lon"]
    assert lon["mbps"] is None
    assert "No SNMP response" in lon["counter"]["why"], lon
    snmpd[0] = start_snmpd(d)
    wait_for("lon's rate again", lambda: utilization(d)["lon"]["mbps"] is not None, 30)
    assert utilization(d)["lon"]["counter"]["resets"] == resets + 1  # snmpd's uptime went back: no rate from it
    assert utilization(d)["lon"]["source"] == "counter"
