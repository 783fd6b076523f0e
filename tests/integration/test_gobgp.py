"""A third BGP implementation as a cloud gateway: GoBGP (Azure ExpressRoute) behind egress fra,
next to BIRD (AWS) through the same egress: two candidates for one egress, one path announced."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lab.netlab import lab, wait_for
from lab.topology import Topology, best_paths, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("gobgpd", "gobgp")

FRA, AMS = "10.255.0.1", "10.255.0.2"


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb, azure=True)
        assert t.azure is not None
        t.azure.announce("10.40.0.0/16", "10.250.3.2", community="8075:100")
        t.azure.announce("10.30.0.0/16", "10.250.3.2")
        # present and usable (fra's next-hop route resolved): on a loaded machine the path can arrive first
        wait_for("GoBGP's prefix best via fra", lambda: best_paths(t.core).get("10.40.0.0/16") == FRA, timeout=60)
        yield t


def test_gobgp_routes_are_steered(topo: Topology) -> None:
    assert best_paths(topo.core)["10.40.0.0/16"] == FRA
    d = topo.core.route_detail("10.40.0.0/16")["paths"][0]
    assert d["locPrf"] == 150
    assert "8075:100" in d["community"]["string"]
    assert d["aspath"]["string"] == "8075"


def test_two_gateways_behind_one_egress_give_one_path(topo: Topology) -> None:
    paths = {p["nexthops"][0]["ip"] for p in topo.core.routes()["10.30.0.0/16"]}
    assert paths == {FRA, AMS}  # aws and azure both arrive via fra: the core still gets one fra path
    x = json.loads(topo.cli("explain", "10.30.0.0/16", "--json").stdout)
    fra = next(e for e in x["egresses"] if e["egress"] == "fra")
    assert fra["best"] == "aws-tgw-fra"
    assert fra["why"].startswith("best of 2 accepted candidate(s)")
    assert {c["peer"] for c in x["candidates"]} == {"aws-tgw-fra", "azure-er-fra", "gcp-cr-ams"}
    # the gateway withdraws: the fra path stays (aws still has it), nothing flaps on the core
    topo.azure.withdraw("10.30.0.0/16")  # type: ignore[union-attr]
    wait_for(
        "azure candidate gone",
        lambda: len(json.loads(topo.cli("explain", "10.30.0.0/16", "--json").stdout)["candidates"]) == 2,
        timeout=30,
    )
    assert {p["nexthops"][0]["ip"] for p in topo.core.routes()["10.30.0.0/16"]} == {FRA, AMS}
