"""Relief on real congestion with no one pushing utilization (issue 28, part 1): the data-plane lab's egress
utilization is read from the network itself, fra's by netlink (the core's interface towards the fra router:
octets sent) and lon's by SNMP (Debian's snmpd in the lon router's namespace: IF-MIB ifHCInOctets of its
interface from the core).  Only the per-prefix volumes are still pushed (flow export is not built yet).  fra is
overloaded by real packets (an nftables policer at its capacity) and its largest movable prefix goes to lon; an
SNMP agent that stops is unknown, never zero, and its restart is a counter reset, not a rate."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.dataplane import DATAPLANE_CONFIG, EGRESS_NS, DataPlane, build, with_relief
from lab.netlab import lab, sh, wait_for
from lab.textedit import named, yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("snmpd")

CAPACITY_MBPS = 0.4
POLICER_KBYTES = int(CAPACITY_MBPS * 1e6 / 8 / 1000)
PREFIX_OF = {"other": "10.10.0.0/16", "sovereign": "10.10.8.0/24"}


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
        snmpd = [start_snmpd(d)]
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

        wait_for("the agent's control socket", lambda: d.cli("status").returncode == 0, 60)
        d.config.write_text(yaml_edited(d.config.read_text(), counted))
        assert d.cli("reload").returncode == 0
        wait_for("traffic via fra", lambda: d.core_egress("other") == "fra", 60)
        yield d, snmpd
        for p in snmpd:
            p.kill()


def utilization(d: DataPlane) -> dict[str, dict[str, Any]]:
    return {e["egress"]: e for e in d.cli_json("status")["utilization"]}


def push_volumes(d: DataPlane, last: dict[str, int], at: float) -> tuple[dict[str, int], float]:
    """Only per-prefix volumes are pushed (what a flow collector would say); no egress utilization."""
    now, cur = time.monotonic(), d.flow_bytes()
    args = [
        f"--prefix={PREFIX_OF[k]}={(cur[k] - last.get(k, 0)) * 8 / max(now - at, 1e-3) / 1e6:.4f}" for k in PREFIX_OF
    ]
    p = d.cli("load", *args)
    assert p.returncode == 0, p.stderr
    return cur, now


def test_counters_read_without_a_pusher_drive_relief(dp: tuple[DataPlane, list[subprocess.Popen[bytes]]]) -> None:
    d, _ = dp
    wait_for("both counters give rates", lambda: all(u["mbps"] is not None for u in utilization(d).values()), 30)
    u = utilization(d)
    assert (u["fra"]["source"], u["lon"]["source"]) == ("counter", "counter")
    assert u["fra"]["counter"]["where"].startswith("netlink ")
    assert u["lon"]["counter"]["where"].startswith("snmp 10.252.2.2:161 ")
    refused = d.cli("load", "--egress", "fra=1")
    assert refused.returncode == 2
    assert "fra: utilization is read from interface counters" in refused.stderr
    wait = d.traffic(30.0, rate=300.0, kinds=("other", "sovereign"))  # ~0.53 Mbit/s offered to fra's 0.4
    last, at = d.flow_bytes(), time.monotonic()
    t0, moved, peak = time.monotonic(), None, 0.0
    while time.monotonic() - t0 < 25:  # bounded: the overload, the hold, the move
        time.sleep(1.0)
        last, at = push_volumes(d, last, at)
        peak = max(peak, utilization(d)["fra"]["mbps"] or 0.0)
        if d.core_egress("other") == "lon":
            moved = time.monotonic() - t0
            break
    wait()
    assert moved is not None, utilization(d)
    print(f"fra read at up to {peak:.3f} Mbit/s by netlink; 10.10.0.0/16 moved to lon after {moved:.1f}s")
    assert peak > CAPACITY_MBPS * 0.8
    assert d.core_egress("sovereign") == "fra"  # EU-bound: never to the UK
    x = d.cli_json("explain", "10.10.0.0/16")
    assert (x["relief"]["from"], x["relief"]["to"]) == ("fra", "lon")
    text = d.cli("status").stdout
    assert "counter: netlink " in text


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
