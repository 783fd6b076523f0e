"""Multipath on a real FRR core: a spread prefix is installed in the core's kernel with one next-hop per egress
(ECMP), each path carrying its egress's link bandwidth, and an egress that fails leaves the spread in one withdrawal.

Measured on FRR 8.4 (and pinned here, so a newer FRR that fixes it shows up as a failing test): FRR turns the
link bandwidths into weights (25/75 for 100 and 300 Mbit/s) on the recursive next-hops (NH_E), but installs the
resolved next-hops with weight 1: the kernel splits equally.  With direct next-hops it installs 25/75 (checked by
hand); bgpsteer's O(1) failover needs the recursive ones.

The egress ams forwards through a second link (gateway 10.250.9.1), so the two egresses' next-hops differ in the FIB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, sh, wait_for
from lab.textedit import named, yaml_edited
from lab.topology import LAB_CONFIG, Topology, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

AMS_GW = "10.250.9.1"


def weights(t: Topology, prefix: str) -> dict[str, int]:
    """next-hop -> weight of the core's kernel route (a single next-hop: weight 1)."""
    out = sh("ip", "-4", "route", "show", prefix, ns=t.lab.ns("core"))
    hops = dict((gw, int(w)) for gw, w in re.findall(r"nexthop via (\S+) dev \S+ weight (\d+)", out))
    if not hops:
        single = re.search(r" via (\S+) ", out)
        return {single.group(1): 1} if single else {}
    return hops


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:

    def change(doc: dict[str, Any]) -> None:
        named(doc["egresses"], "fra")["capacity_mbps"] = 100
        named(doc["egresses"], "ams").update(gateway=AMS_GW, capacity_mbps=300)
        doc.setdefault("steering", {})["multipath"] = {"prefixes": "aws-eu-central-1"}

    text = yaml_edited(LAB_CONFIG.read_text(), change)
    with lab() as lb:
        cfg = lb.path("multipath.yaml")
        cfg.write_text(text)
        t = build(lb, cfg, multipath=True)
        lb.link("rs", f"{AMS_GW}/30", "core", "10.250.9.2/30")
        yield t


def test_a_spread_prefix_is_load_balanced_in_the_fib(topo: Topology) -> None:
    # 10.10.0.0/16: both clouds announce it; in the spread set
    wait_for("multipath in the FIB", lambda: weights(topo, "10.10.0.0/16") == {"10.250.0.1": 1, AMS_GW: 1}, 60)
    paths = topo.core.routes()["10.10.0.0/16"]
    assert [bool(p.get("valid")) for p in paths] == [True, True]
    assert any(p.get("multipath") for p in paths)
    zebra = topo.core.vtysh("show ip route 10.10.0.0/16")
    assert "10.255.0.1 (recursive), weight 25" in zebra  # the link bandwidths arrived and became weights...
    assert "10.255.0.2 (recursive), weight 75" in zebra  # ...which FRR 8.4 does not carry into the FIB
    x = topo.cli("explain", "10.10.0.0/16")
    assert "spread over fra 25%, ams 75%" in x.stdout  # what a core keeping the weights does
    # 10.30.0.0/16 is outside the set: one egress, by policy and cost
    assert len(weights(topo, "10.30.0.0/16")) == 1


def test_a_failed_egress_leaves_the_spread_and_returns(topo: Topology) -> None:
    topo.block_probes("gcp", True)
    try:
        wait_for("only fra", lambda: weights(topo, "10.10.0.0/16") == {"10.250.0.1": 1}, 30)
    finally:
        topo.block_probes("gcp", False)
    wait_for("spread again", lambda: weights(topo, "10.10.0.0/16") == {"10.250.0.1": 1, AMS_GW: 1}, 60)
