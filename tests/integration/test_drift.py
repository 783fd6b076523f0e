"""The closed loop on real daemons: bgpsteer reads the FRR core's table (``monitor: {cli: frr}``, vtysh in the
core's namespace) and says where the core differs from intent.  Each cause is injected on the core and must be
found within ``interval + window`` (1 s + 2 s here) and a reading's slack; taken away, the drift ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, wait_for
from lab.textedit import named, yaml_edited
from lab.topology import LAB_CONFIG, Topology, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

PREFIX = "10.10.0.0/16"  # via fra (local-pref 200) and ams (100)
NEIGHBOR = "router bgp 65000\n address-family ipv4 unicast\n  "  # then a neighbor statement of the core's
FOUND_WITHIN = 10.0  # interval 1 s + window 2 s, and the slack of a reading and of the core's own processing


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        command = ["vtysh", "--vty_socket", str(lb.path("frr-core")), "-c", "show bgp ipv4 unicast json"]

        def monitored(d: dict[str, Any]) -> None:
            core = named(d["core_routers"], "core1", key="name")
            core["monitor"] = {"cli": "frr", "command": command, "netns": lb.ns("core"), "interval": 1, "window": 2}

        source = lb.path("drift-source.yaml")
        source.write_text(yaml_edited(LAB_CONFIG.read_text(), monitored))
        yield build(lb, source)


def verify(t: Topology) -> tuple[int, dict[str, Any]]:
    p = t.cli("verify", "--json")
    return p.returncode, json.loads(p.stdout) if p.stdout else {}


def drift_of(t: Topology, kind: str) -> set[str]:
    _, r = verify(t)
    return {d["prefix"] for c in r.get("cores", []) for d in c["drift"] if d["kind"] == kind}


def core_config(t: Topology, lines: str) -> None:
    t.core.vtysh("configure terminal\n" + lines)
    t.core.vtysh("clear bgp ipv4 unicast * soft in")


def test_a_core_as_intended_verifies(topo: Topology) -> None:
    wait_for("a clean verify", lambda: verify(topo)[0] == 0, timeout=60)
    code, r = verify(topo)
    assert (code, [c["drift"] for c in r["cores"]]) == (0, [[]])


def test_a_route_map_on_the_core_overriding_local_pref_is_found_and_ends(topo: Topology) -> None:
    core_config(
        topo,
        f"ip prefix-list DRIFT seq 5 permit {PREFIX}\n"
        "route-map DRIFT permit 10\n match ip address prefix-list DRIFT\n set local-preference 7\n"
        "route-map DRIFT permit 20\n" + NEIGHBOR + "neighbor 10.250.0.1 route-map DRIFT in\n",
    )
    t0 = time.monotonic()
    try:
        wait_for("local-pref drift", lambda: PREFIX in drift_of(topo, "local-pref"), timeout=FOUND_WITHIN, interval=0.2)
        print(f"a core route-map's LOCAL_PREF found as drift after {time.monotonic() - t0:.1f}s")
        code, r = verify(topo)
        assert code == 1
        details = {d["detail"] for d in r["cores"][0]["drift"] if d["prefix"] == PREFIX and d["kind"] == "local-pref"}
        # the route-map sets 7 on both paths; bgpsteer sent 200 via fra (and its own via ams)
        assert "the core holds the path via fra with LOCAL_PREF 7, not 200 (a policy on the core)" in details
        assert len(details) == 2
        text = topo.cli("verify").stdout
        assert f"{PREFIX}: NOT as intended: the core holds the path via fra with LOCAL_PREF 7" in text
        assert "DRIFT on core1: " in topo.cli("status").stdout
    finally:
        core_config(
            topo, "router bgp 65000\n address-family ipv4 unicast\n  no neighbor 10.250.0.1 route-map DRIFT in\n"
        )
    wait_for("drift ended", lambda: verify(topo)[0] == 0, timeout=FOUND_WITHIN)


def test_a_next_hop_the_core_cannot_resolve_is_found(topo: Topology) -> None:
    """fra's NH route filtered on the core while fra is in service: every path via fra is invalid there."""
    core_config(
        topo,
        "ip prefix-list NONH seq 5 deny 10.255.0.1/32\nip prefix-list NONH seq 10 permit 0.0.0.0/0 le 32\n"
        + NEIGHBOR
        + "neighbor 10.250.0.1 prefix-list NONH in\n",
    )
    try:
        wait_for("unresolved drift", lambda: PREFIX in drift_of(topo, "unresolved"), timeout=FOUND_WITHIN)
        assert PREFIX in drift_of(topo, "other-egress")  # and the core uses ams meanwhile
    finally:
        core_config(
            topo, "router bgp 65000\n address-family ipv4 unicast\n  no neighbor 10.250.0.1 prefix-list NONH in\n"
        )
    wait_for("drift ended", lambda: verify(topo)[0] == 0, timeout=FOUND_WITHIN)


def test_a_failover_is_not_drift(topo: Topology) -> None:
    """An egress failing moves paths on the core: differences for a moment, never for the window."""
    wait_for("a clean verify", lambda: verify(topo)[0] == 0, timeout=60)
    false_alarms: set[str] = set()
    topo.block_probes("gcp", True)
    try:
        deadline = time.monotonic() + 5  # the failover (0.3 s), then more than the window (2 s) of settled state
        while time.monotonic() < deadline:  # bounded: 0.3 s polls through the failover and after
            false_alarms |= {d["prefix"] for c in verify(topo)[1]["cores"] for d in c["drift"]}
            time.sleep(0.3)
    finally:
        topo.block_probes("gcp", False)
    deadline = time.monotonic() + 14  # its return after rise and the hold-down (5 s), and a window more
    while time.monotonic() < deadline:  # bounded: and its return after the hold-down
        false_alarms |= {d["prefix"] for c in verify(topo)[1]["cores"] for d in c["drift"]}
        time.sleep(0.3)
    assert false_alarms == set()
