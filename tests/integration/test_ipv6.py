"""IPv6 on real daemons: v6 sessions from BIRD gateways, a v6 session to the FRR core.

BIRD announces IPv6 routes with a global and a link-local next-hop (ExaBGP
lists each prefix twice); bgpsteer keeps one path per peer, steers with the
egresses' IPv6 next-hops and fails them over with their /128 next-hop routes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, wait_for
from lab.topology import Topology, best_paths, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

FRA6, AMS6 = "fd00:255::1", "fd00:255::2"


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb, ipv6=True)
        wait_for("IPv6 routes on the core", lambda: len(best_paths(t.core, "ipv6")) == 3, timeout=60)
        yield t


def v6_paths(t: Topology, prefix: str) -> dict[str, dict[str, Any]]:
    return {p["nexthops"][0]["ip"]: p for p in t.core.routes("ipv6").get(prefix, [])}


def test_ipv6_paths_on_the_core(topo: Topology) -> None:
    assert set(best_paths(topo.core, "ipv6")) == {
        "fd10:10::/48",
        "fd10:20::/48",
        "fd10:30::/48",
    }  # 2001:db8:1::/48 rejected
    shared = v6_paths(topo, "fd10:30::/48")
    assert set(shared) == {FRA6, AMS6}  # one path per egress, though BIRD sent two next-hops each
    assert (shared[AMS6]["locPrf"], shared[FRA6]["locPrf"]) == (160, 150)
    assert best_paths(topo.core, "ipv6")["fd10:30::/48"] == AMS6
    assert best_paths(topo.core)["10.30.0.0/16"] == "10.255.0.2"  # IPv4 unaffected
    rejected = topo.dump_state()["rejected"]
    assert any(r["prefix"] == "2001:db8:1::/48" and "special-purpose" in r["trace"][-1] for r in rejected)


def test_ipv6_fails_over_with_its_egress(topo: Topology) -> None:
    topo.block_probes("gcp", True)
    try:
        wait_for("v6 off ams", lambda: best_paths(topo.core, "ipv6")["fd10:30::/48"] == FRA6, timeout=30)
        assert best_paths(topo.core, "ipv6")["fd10:20::/48"] is None  # only ams had it
        assert "fd00:255::2/128" not in topo.core.routes("ipv6")
    finally:
        topo.block_probes("gcp", False)
    wait_for("v6 back on ams", lambda: best_paths(topo.core, "ipv6")["fd10:30::/48"] == AMS6, timeout=60)
