"""The data-plane lab with its load read from the network and no one pushing a number (issue 28): fra's
utilization by netlink (the core's interface towards the fra router: octets sent), lon's by SNMP (Debian's snmpd
in the lon router's namespace: IF-MIB ifHCInOctets of its interface from the core), and per-prefix volumes by
flow export (Debian's softflowd on the core's site-facing interface, NetFlow v9, 1-in-2 sampled, to bgpsteer's
collector on the route server).  Each egress is shaped to CAPACITY_MBPS by an nftables policer, so offered load
above it is real congestion.  Used by tests/integration/test_utilization.py and the demo.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

from lab.dataplane import DATAPLANE_CONFIG, EGRESS_NS, DataPlane, build, with_relief
from lab.flowexport import softflowd
from lab.netlab import Lab, sh, wait_for
from lab.textedit import named, yaml_edited

CAPACITY_MBPS = 0.4
POLICER_KBYTES = int(CAPACITY_MBPS * 1e6 / 8 / 1000)
FLOW_WINDOW = 5.0  # seconds: softflowd exports a long flow every 2 s (maxlife=2)
COLLECTOR = ("10.250.0.1", 2055)  # the route server's side of the core link
EXPORTER = "10.250.0.2"  # the core's address towards the route server: where its flow export comes from


@dataclass
class LoadLab:
    dp: DataPlane
    snmpd: subprocess.Popen[bytes]
    softflowd: subprocess.Popen[bytes]
    devices: dict[str, str] = field(default_factory=dict)  # egress -> the device its counter reads

    def start_snmpd(self) -> None:
        self.snmpd = start_snmpd(self.dp)

    def utilization(self) -> dict[str, dict[str, Any]]:
        return {e["egress"]: e for e in self.dp.cli_json("status")["utilization"]}

    def flows(self) -> dict[str, Any]:
        f = self.dp.cli_json("status")["flows"]
        assert f is not None, "steering.relief.flows is configured: status has a flows section"
        return dict(f)

    def stop(self) -> None:
        for p in (self.snmpd, self.softflowd):
            p.kill()


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


def build_counted(lb: Lab) -> LoadLab:
    """The data-plane lab, shaped, with counters and flow export configured (by a reload, as an operator would),
    returned once traffic for the unclassified kind leaves by fra."""
    d = build(lb, config_text=yaml_edited(DATAPLANE_CONFIG.read_text(), with_relief(CAPACITY_MBPS)))
    for egress in ("fra", "lon"):
        d.shape(egress, POLICER_KBYTES)
    # SNMP from the route server to the lon router, through the core (which routes between its links)
    sh("ip", "route", "replace", "10.252.0.0/16", "via", EXPORTER, ns=lb.ns("rs"))
    sh("ip", "route", "replace", "10.250.0.0/30", "via", "10.252.2.1", ns=lb.ns(EGRESS_NS["lon"]))
    site_side = interface(d, "core", "10.251.0.1")
    ll = LoadLab(
        d,
        start_snmpd(d),
        softflowd(lb, "core", site_side, f"{COLLECTOR[0]}:{COLLECTOR[1]}", "9", 2),
        {"fra": interface(d, "core", "10.252.1.1"), "lon": interface(d, EGRESS_NS["lon"], "10.252.2.2")},
    )

    def counted(doc: dict[str, Any]) -> None:
        named(doc["egresses"], "fra")["utilization"] = {
            "type": "netlink",
            "device": ll.devices["fra"],
            "netns": lb.ns("core"),
            "interval": 1,
        }
        named(doc["egresses"], "lon")["utilization"] = {
            "type": "snmp",
            "host": "10.252.2.2",
            "device": ll.devices["lon"],
            "direction": "in",
            "interval": 1,
            "timeout": 0.5,
            "retries": 0,
        }
        doc["steering"]["relief"]["flows"] = {
            "listen": COLLECTOR[0],
            "port": COLLECTOR[1],
            "window": FLOW_WINDOW,
            "exporters": [{"address": EXPORTER}],
        }

    wait_for("the agent's control socket", lambda: d.cli("status").returncode == 0, 60)
    d.config.write_text(yaml_edited(d.config.read_text(), counted))
    reloaded = d.cli("reload")
    assert reloaded.returncode == 0, reloaded.stderr
    wait_for("traffic via fra", lambda: d.core_egress("other") == "fra", 60)
    return ll
