"""Real daemons: ExaBGP running bgpsteer, BIRD cloud gateways, an FRR core.

Assertions read FRR's own RIB (vtysh ... json).  Namespaces are created by
the lab fixture and removed afterwards, also on failure.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, wait_for
from lab.topology import Topology, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration

lab_tools()


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb)
        wait_for("steered routes on the core", lambda: len(t.steered()) == 5, timeout=60)
        yield t


def paths(t: Topology, prefix: str) -> dict[str, dict[str, Any]]:
    """next-hop -> path, from FRR's RIB."""
    out = {}
    for p in t.steered().get(prefix, []):
        out[p["nexthops"][0]["ip"]] = p
    return out


def detail(t: Topology, prefix: str) -> dict[str, dict[str, Any]]:
    """next-hop -> detailed path (communities included)."""
    data = t.core.route_detail(prefix)
    return {p["nexthops"][0]["ip"]: p for p in data.get("paths", [])}


FRA, AMS = "10.255.0.1", "10.255.0.2"


def test_core_holds_every_egress_ranked(topo: Topology) -> None:
    routes = topo.steered()
    assert sorted(routes) == ["10.10.0.0/16", "10.10.1.0/24", "10.20.0.0/16", "10.20.1.0/24", "10.30.0.0/16"]
    # provider affinity: AWS prefixes prefer the egress with the direct AWS interconnect
    aws = paths(topo, "10.10.0.0/16")
    assert set(aws) == {FRA, AMS}
    assert aws[FRA]["locPrf"] == 200
    assert aws[FRA].get("bestpath") is True
    assert aws[AMS]["locPrf"] == 160
    assert aws[AMS]["metric"] == 10
    gcp = paths(topo, "10.20.0.0/16")
    assert gcp[AMS]["locPrf"] == 200
    assert gcp[AMS].get("bestpath") is True
    assert gcp[FRA]["locPrf"] == 150
    assert gcp[FRA]["metric"] == 20
    # cost: neither has affinity, the cheaper egress ranks higher
    both = paths(topo, "10.30.0.0/16")
    assert (both[AMS]["locPrf"], both[FRA]["locPrf"]) == (160, 150)
    assert (both[AMS]["metric"], both[FRA]["metric"]) == (10, 20)
    assert both[AMS].get("bestpath") is True


def test_import_safety_keeps_bogons_and_too_specifics_out(topo: Topology) -> None:
    routes = topo.steered()
    assert "192.0.2.0/24" not in routes
    assert "10.10.9.0/28" not in routes


def test_communities_reach_the_core(topo: Topology) -> None:
    d = detail(topo, "10.10.0.0/16")
    fra = d[FRA]
    assert set(fra["community"]["list"]) == {"64512:100", "65000:100"}
    assert fra["largeCommunity"]["list"] == ["65000:1:1"]
    assert set(d[AMS]["community"]["list"]) == {"16550:100", "65000:100"}


def test_rejected_routes_keep_their_reason(topo: Topology) -> None:
    data = topo.dump_state()
    reasons = {r["prefix"]: r["trace"][-1] for r in data["rejected"]}
    assert "special-purpose" in reasons["192.0.2.0/24"]
    assert "too specific" in reasons["10.10.9.0/28"]
    trace = data["explain"]["10.10.0.0/16"]["candidates"]
    assert any("aws-direct-via-fra" in step for c in trace for step in c["trace"])


def test_the_agent_never_crashed_nor_misread_exabgp(topo: Topology) -> None:
    """Everything so far ran on one helper process: ExaBGP is up, nothing was logged as a traceback, and not one line
    from the real ExaBGP was taken as malformed (malformed lines themselves: tests/unit/test_agent.py, tests/fake)."""
    assert topo.exabgp.poll() is None
    log = topo.agent_log()
    assert "Traceback" not in log
    assert log.count("bgpsteer INFO started: config") == 1
    assert topo.dump_state()["stats"]["malformed_lines"] == 0, "a line of the real ExaBGP was not understood"


def test_withdraw_at_one_cloud_peer(topo: Topology) -> None:
    from lab.topology import AWS_ROUTES

    topo.aws_announce([r for r in AWS_ROUTES if r != "10.30.0.0/16"])
    wait_for("FRA path of 10.30/16 withdrawn", lambda: set(paths(topo, "10.30.0.0/16")) == {AMS}, timeout=30)
    assert set(paths(topo, "10.10.0.0/16")) == {FRA, AMS}  # nothing else moved


def test_stopping_a_cloud_peer_removes_its_egress(topo: Topology) -> None:
    topo.gcp.cmd("disable", "up4")
    wait_for("AMS paths gone", lambda: all(AMS not in paths(topo, p) for p in topo.steered()), timeout=30)
    routes = topo.steered()
    assert "10.20.1.0/24" not in routes  # only GCP had it
    assert set(paths(topo, "10.20.0.0/16")) == {FRA}
    assert "10.30.0.0/16" not in routes  # AWS withdrew it earlier, GCP is gone now
    topo.gcp.cmd("enable", "up4")
    wait_for("AMS paths back", lambda: set(paths(topo, "10.20.0.0/16")) == {FRA, AMS}, timeout=60)


def test_helper_restart_reconciles_without_flap(topo: Topology) -> None:
    """Kill the helper; ExaBGP restarts it; stale routes go, wanted ones never leave the core."""
    before = {p: set(paths(topo, p)) for p in topo.steered()}
    # while the helper is down, AWS stops announcing 10.10.1.0/24
    os.kill(topo.helper_pid(), signal.SIGKILL)
    from lab.topology import AWS_ROUTES

    topo.aws_announce([r for r in AWS_ROUTES if r not in ("10.30.0.0/16", "10.10.1.0/24")])
    wait_for(
        "helper restarted",
        lambda: "reconciled with ExaBGP" in topo.agent_log().split("started: config")[-1],
        timeout=60,
    )
    wait_for("stale 10.10.1.0/24 withdrawn", lambda: "10.10.1.0/24" not in topo.steered(), timeout=30)
    after = {p: set(paths(topo, p)) for p in topo.steered()}
    expected = {p: nhs for p, nhs in before.items() if p != "10.10.1.0/24"}
    assert after == expected
    # the decision journal survived the restart: the first announcement and the stale withdrawal are both there
    import json as _json

    hist = _json.loads(topo.cli("history", "10.10.1.0/24", "--json").stdout)["records"]
    assert hist[0]["old"] is None
    assert hist[0]["new"] is not None
    assert hist[-1]["new"] is None
