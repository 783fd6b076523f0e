"""Application classes on real daemons: a degraded egress leaves the realtime class only.

The lab runs with classes (lab/topology.py build(classes=True)): the default
core session carries bulk traffic, a second FRR plays the core's realtime VRF
with its own session.  Egress probes are UDP echoes to reflectors in the cloud
namespaces, which inject delay, jitter and loss on demand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from lab.netlab import lab, wait_for
from lab.topology import Topology, build
from lab.topology import best_paths as best
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

FRA, AMS = "10.255.0.1", "10.255.0.2"


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb, classes=True)
        assert t.realtime is not None
        # every path resolved on both cores (the next-hop routes arrived and FRR resolved them)
        wait_for(
            "steered routes on both cores",
            lambda: (
                len(t.steered()) == 5
                and len(best(t.realtime_core)) == 5
                and None not in best(t.core).values()
                and list(best(t.realtime_core).values()).count(None) == 0
            ),
            timeout=60,
        )
        yield t


def test_noisy_probes_move_nothing(topo: Topology) -> None:
    before = (best(topo.core), best(topo.realtime_core))
    moves = topo.agent_log().count("out of service")
    topo.impair("aws", jitter_ms=3, loss=0.005)
    topo.impair("gcp", jitter_ms=3, loss=0.005)
    time.sleep(20)  # 100 probe rounds per egress
    log = topo.agent_log()
    assert log.count("out of service") == moves, [
        line for line in log.splitlines() if "->" in line and "egress" in line
    ]
    assert (best(topo.core), best(topo.realtime_core)) == before


def test_degraded_egress_moves_realtime_and_keeps_bulk(topo: Topology) -> None:
    rt = topo.realtime
    assert rt is not None
    default_before, rt_before = best(topo.core), best(rt)
    assert rt_before["10.30.0.0/16"] == AMS
    assert default_before["10.30.0.0/16"] == AMS
    sim = json.loads(topo.cli("simulate", "--degrade", "ams:latency=60ms", "--json").stdout)
    assert sim["moved"] == []
    assert sim["bgp_updates"] == 1
    predicted = {m["prefix"]: m["to"] for m in sim["classes"]["realtime"]["moved"]}
    assert predicted == {"10.20.0.0/16": "fra", "10.30.0.0/16": "fra"}
    assert [w["prefix"] for w in sim["classes"]["realtime"]["withdrawn"]] == ["10.20.1.0/24"]  # only ams has it
    topo.impair("gcp", delay_ms=60, jitter_ms=2)  # over realtime's 40 ms, well inside bulk's 300 ms
    t0 = time.monotonic()
    # the realtime table converges to exactly what simulate predicted (FRR may pass through transient states)
    expected = {
        **rt_before,
        **{p: FRA for p in predicted},
        "10.20.1.0/24": None,
    }  # 10.20.1.0/24: only via ams, no realtime path
    wait_for("realtime table as predicted", lambda: best(rt) == expected, timeout=30, interval=0.2)
    moved_after = time.monotonic() - t0
    assert AMS not in best(rt).values()
    assert best(topo.core) == default_before, "bulk traffic must stay where it was"
    log = topo.agent_log()
    assert "egress ams SLA fit for class realtime up -> down" in log
    assert "egress ams out of service for class realtime" in log
    assert "egress ams health up -> down" not in log.split("SLA fit up -> down")[-1]
    state = json.loads(topo.cli("show", "egress", "ams", "--json").stdout)["egresses"][0]
    assert state["classes"]["realtime"]["in_service"] is False
    assert state["classes"]["bulk"]["in_service"] is True
    assert state["in_service"] is True
    routes = json.loads(topo.cli("show", "routes", "10.30.0.0/16", "--class", "realtime", "--json").stdout)
    assert routes["routes"][0]["primary"] == "fra"
    assert json.loads(topo.cli("show", "routes", "10.30.0.0/16", "--json").stdout)["routes"][0]["primary"] == "ams"
    x = topo.cli("explain", "10.30.0.0/16", "--class", "realtime")
    assert x.returncode == 0
    assert "leaves through fra" in x.stdout
    assert "class realtime: misses SLA (latency" in x.stdout
    unknown = topo.cli("show", "routes", "--class", "video")
    assert unknown.returncode == 2
    assert "unknown class 'video'" in unknown.stderr

    topo.impair("gcp")
    t1 = time.monotonic()
    wait_for("realtime back on ams", lambda: best(rt)["10.30.0.0/16"] == AMS, timeout=60, interval=0.2)
    assert time.monotonic() - t1 >= 5, "realtime failed back before its 5 s hold-down"
    print(f"realtime moved {moved_after:.2f}s after the delay was injected")
