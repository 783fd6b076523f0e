"""Relief on real congestion with no one pushing a number (issue 28), on lab/loadlab.py: fra's utilization read by
netlink, lon's by SNMP, per-prefix volumes from softflowd's flow export.  fra is overloaded by real packets (an
nftables policer at its capacity) and its largest movable prefix goes to lon; an SNMP agent that stops is unknown,
never zero, and its restart is a counter reset, not a rate; a softflowd that stops leaves the volumes unknown."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lab.loadlab import CAPACITY_MBPS, FLOW_WINDOW, LoadLab, build_counted
from lab.netlab import lab, wait_for
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("snmpd", "softflowd")


@pytest.fixture(scope="module")
def ll() -> Iterator[LoadLab]:
    with lab() as lb:
        loaded = build_counted(lb)
        yield loaded
        loaded.stop()


def test_counters_and_flows_read_without_a_pusher_drive_relief(ll: LoadLab) -> None:
    d, utilization, flows = ll.dp, ll.utilization, ll.flows
    wait_for("both counters give rates", lambda: all(u["mbps"] is not None for u in utilization().values()), 30)
    u = utilization()
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
        peak = max(peak, utilization()["fra"]["mbps"] or 0.0)
        if d.core_egress("other") == "lon":
            moved = time.monotonic() - t0
            break
    x = d.cli_json("explain", "10.10.0.0/16")  # while the load lasts: once it ends the prefix goes back
    wait()
    assert moved is not None, utilization()
    print(f"fra read at up to {peak:.3f} Mbit/s by netlink; 10.10.0.0/16 moved to lon after {moved:.1f}s")
    assert peak > CAPACITY_MBPS * 0.8
    assert d.core_egress("sovereign") == "fra"  # EU-bound: never to the UK
    assert x["relief"] is not None, x
    assert (x["relief"]["from"], x["relief"]["to"]) == ("fra", "lon")
    assert "(counter; threshold 80% for 1s)" in x["relief"]["reason"]
    assert "Mbit/s (flow) moved to lon" in x["relief"]["reason"]
    # the load gone, fra's counter reads it below release: the prefix returns, on the counter alone
    wait_for("10.10.0.0/16 back on fra", lambda: d.core_egress("other") == "fra", 30)
    f = flows()
    exporter = f["exporters"][0]
    assert exporter["address"] == "10.250.0.2"
    assert exporter["datagrams"] > 0
    assert exporter["sampling"] == 2  # softflowd -s 2 says so in its options record
    assert f["dropped"]["unlisted_exporter"] == 0
    text = d.cli("status").stdout
    assert "counter: netlink " in text
    assert "flow collector 10.250.0.1:2055" in text


def test_an_exporter_that_stops_leaves_the_volumes_unknown(ll: LoadLab) -> None:
    d, flows = ll.dp, ll.flows
    wait = d.traffic(15.0, rate=300.0, kinds=("other",))
    wait_for("volumes from flows", lambda: flows()["volumes"]["known"], 20)
    ll.softflowd.kill()  # softflowd dies while the traffic still flows
    ll.softflowd.wait(10)
    # no record within the window: the volumes are unknown, never zero, and the exporter shows as silent
    wait_for("volumes unknown", lambda: not flows()["volumes"]["known"], FLOW_WINDOW + 10)
    assert flows()["exporters"][0]["silent"]
    wait()


def test_an_snmp_agent_that_stops_is_unknown_and_its_restart_a_reset(ll: LoadLab) -> None:
    utilization = ll.utilization
    wait_for("lon's rate", lambda: utilization()["lon"]["mbps"] is not None, 30)
    resets = utilization()["lon"]["counter"]["resets"]
    ll.snmpd.kill()
    ll.snmpd.wait(10)
    wait_for("lon unknown", lambda: utilization()["lon"]["load_pct"] is None, 30)  # stale after 3 s: unknown
    lon = utilization()["lon"]
    assert lon["mbps"] is None
    assert "No SNMP response" in lon["counter"]["why"], lon
    ll.start_snmpd()
    wait_for("lon's rate again", lambda: utilization()["lon"]["mbps"] is not None, 30)
    assert utilization()["lon"]["counter"]["resets"] == resets + 1  # snmpd's uptime went back: no rate from it
    assert utilization()["lon"]["source"] == "counter"
