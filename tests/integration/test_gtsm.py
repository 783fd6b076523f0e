"""TTL security (GTSM, RFC 5082) on real daemons: ExaBGP 5.0.15 with bgpsteer's rendered ``incoming-ttl``, an FRR
core with ``ttl-security hops 1`` and BIRD gateways with ``ttl security``.  A directly connected core and gateway
establish; a gateway two hops away establishes with ``ttl_security: 2`` and never with ``ttl_security: true``
(its packets arrive with TTL 254, which ExaBGP's IP_MINTTL 255 drops: the inbound check 5.0.15 is said to have
fixed, verified here)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from lab.netlab import Bird, Frr, Lab, lab, sh, wait_for
from lab.topology import start_exabgp
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

CONFIG = """
agent: {{local_asn: 65000, router_id: 10.250.0.1, hold_time: 9, state_dir: {state}, ready_timeout: 5}}
egresses:
  - {{id: e1, region: eu, jurisdiction: EU, next_hop: 10.255.0.1}}
  - {{id: e2, region: eu, jurisdiction: EU, next_hop: 10.255.0.2}}
  - {{id: e3, region: eu, jurisdiction: EU, next_hop: 10.255.0.3}}
cloud_peers:
  - {{name: near, address: 10.61.0.2, local_address: 10.61.0.1, asn: 64601, egress: e1, provider: colo, region: r,
     ttl_security: true}}
  - {{name: far-strict, address: 10.63.0.2, local_address: 10.62.0.1, asn: 64602, egress: e2, provider: colo,
     region: r, ttl_security: true}}
  - {{name: far, address: 10.64.0.2, local_address: 10.62.0.1, asn: 64603, egress: e3, provider: colo, region: r,
     ttl_security: 2}}
core_routers:
  - {{name: core1, address: 10.250.0.2, local_address: 10.250.0.1, asn: 65000, ttl_security: true}}
policy: {{import: {{default: accept}}, export: {{default: accept}}}}
"""
CORE = """frr defaults traditional
hostname core
router bgp 65000
 bgp router-id 10.250.0.2
 neighbor 10.250.0.1 remote-as 65000
 neighbor 10.250.0.1 ttl-security hops 1
 neighbor 10.250.0.1 timers 3 9
"""
BIRD = """router id {me};
protocol device {{ }}
protocol static {{ ipv4; route {prefix} blackhole; }}
protocol bgp uplink {{
  local {me} as {asn};
  neighbor {rs} as 65000;
  {multihop}
  ttl security on;
  hold time 9;
  connect retry time 2;
  ipv4 {{ import none; export all; }};
}}
"""


@pytest.fixture(scope="module")
def gtsm() -> Iterator[tuple[Lab, Frr, dict[str, Bird]]]:
    with lab() as lb:
        lb.link("rs", "10.250.0.1/30", "core", "10.250.0.2/30")
        lb.link("rs", "10.61.0.1/30", "near", "10.61.0.2/30")
        lb.link("rs", "10.62.0.1/30", "mid", "10.62.0.2/30")
        lb.link("mid", "10.63.0.1/30", "fars", "10.63.0.2/30")
        lb.link("mid", "10.64.0.1/30", "far", "10.64.0.2/30")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=lb.ns("mid"))
        for net in ("10.63.0.0/30", "10.64.0.0/30"):  # two hops away, through mid
            sh("ip", "route", "add", net, "via", "10.62.0.2", ns=lb.ns("rs"))
        sh("ip", "route", "add", "default", "via", "10.63.0.1", ns=lb.ns("fars"))
        sh("ip", "route", "add", "default", "via", "10.64.0.1", ns=lb.ns("far"))
        core = lb.start_frr("core", CORE)
        birds = {
            "near": lb.start_bird(
                "near",
                BIRD.format(me="10.61.0.2", asn=64601, rs="10.61.0.1", multihop="", prefix="172.16.1.0/24"),
                "near",
            ),
            "far-strict": lb.start_bird(
                "fars",
                BIRD.format(me="10.63.0.2", asn=64602, rs="10.62.0.1", multihop="multihop 2;", prefix="172.16.2.0/24"),
                "fars",
            ),
            "far": lb.start_bird(
                "far",
                BIRD.format(me="10.64.0.2", asn=64603, rs="10.62.0.1", multihop="multihop 2;", prefix="172.16.3.0/24"),
                "far",
            ),
        }
        config = lb.path("gtsm.yaml")
        config.write_text(CONFIG.format(state=lb.path("state")))
        start_exabgp(lb, config, sys.executable)
        yield lb, core, birds


def test_a_directly_connected_core_and_gateway_establish_with_gtsm(gtsm: tuple[Lab, Frr, dict[str, Bird]]) -> None:
    _, core, birds = gtsm
    wait_for("the core session", lambda: core.established("10.250.0.1"), timeout=60)
    wait_for("the near gateway", lambda: birds["near"].established("uplink"), timeout=60)
    # and the core really runs GTSM on it: FRR shows how many hops away it accepts the route server
    assert core.vtysh("show bgp neighbors 10.250.0.1 json")["10.250.0.1"]["internalBgpNbrMaxHopsAway"] == 1


def test_two_hops_away_establishes_only_when_two_hops_are_allowed(gtsm: tuple[Lab, Frr, dict[str, Bird]]) -> None:
    _, _, birds = gtsm
    wait_for("the far gateway (ttl_security: 2)", lambda: birds["far"].established("uplink"), timeout=60)
    deadline = time.monotonic() + 8  # several connect retries of both sides (BIRD's 2 s, ExaBGP's own)
    while time.monotonic() < deadline:  # bounded: 0.5 s polls for 8 s
        assert not birds["far-strict"].established("uplink"), "a peer two hops away got a session with ttl_security 1"
        time.sleep(0.5)
