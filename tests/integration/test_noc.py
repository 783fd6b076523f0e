"""The NOC's CLI against a running agent in the real-daemon lab (ExaBGP, FRR core, BIRD clouds).

Every command runs as a user would run it (python -m bgpsteer ... --socket S);
predictions are checked against FRR's own RIB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, wait_for
from lab.textedit import replaced
from lab.topology import Topology, best_paths, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("setpriv")

FRA, AMS = "10.255.0.1", "10.255.0.2"
NH = {"fra": FRA, "ams": AMS}


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb)
        wait_for("steered routes on the core", lambda: len(t.steered()) == 5, timeout=60)
        wait_for("control socket", lambda: os.path.exists(t.socket), timeout=30)
        yield t


def ok(t: Topology, *args: str) -> Any:
    p = t.cli(*args, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def core_best(t: Topology) -> dict[str, str | None]:
    return best_paths(t.core)


def test_status_peers_and_egresses(topo: Topology) -> None:
    s = ok(topo, "status")
    assert {p["name"]: p["state"] for p in s["cloud_peers"]} == {"aws-tgw-fra": "up", "gcp-cr-ams": "up"}
    assert s["core_routers"][0]["state"] == "up"
    assert {e["egress"]: (e["health"], e["in_service"]) for e in s["egresses"]} == {
        "fra": ("up", True),
        "ams": ("up", True),
    }
    assert len(s["config"]["digest"]) == 16
    assert s["last_decision"]
    human = topo.cli("status")
    assert human.returncode == 0
    assert "EGRESS" in human.stdout
    assert "\x1b[" not in human.stdout
    peers = ok(topo, "show", "peers")
    assert {p["name"]: p["accepted"] for p in peers["cloud_peers"]} == {"aws-tgw-fra": 4, "gcp-cr-ams": 4}
    eg = ok(topo, "show", "egress", "ams")["egresses"][0]
    assert eg["health"]["state"] == "up"
    assert eg["measured"]["latency_ms"] > 0
    assert eg["targets"]["10.250.2.2"]["loss_pct"] == 0


def test_show_routes_longest_match_and_filters(topo: Topology) -> None:
    r = ok(topo, "show", "routes", "10.10.1.77")
    assert r["match"] == "10.10.1.0/24"
    assert r["routes"][0]["primary"] == "fra"
    assert core_best(topo)["10.10.1.0/24"] == FRA  # what the CLI says is what the core does
    via_ams = ok(topo, "show", "routes", "--egress", "ams")
    assert {x["prefix"] for x in via_ams["routes"]} == {"10.10.0.0/16", "10.20.0.0/16", "10.20.1.0/24", "10.30.0.0/16"}
    for route in ok(topo, "show", "routes")["routes"]:
        if route["paths"]:
            assert core_best(topo)[route["prefix"]] == NH[route["primary"]]


def test_explain_a_steered_prefix(topo: Topology) -> None:
    x = ok(topo, "explain", "10.30.0.0/16")
    assert x["primary"] == "ams"
    assert [r["egress"] for r in x["ranking"]] == ["ams", "fra"]
    by = {e["egress"]: e for e in x["egresses"]}
    assert any("cost-ams-cheaper" in step for c in x["candidates"] if c["egress"] == "ams" for step in c["trace"])
    assert any(step.startswith("compliance:") for step in by["ams"]["checks"])
    assert "health: in service" in by["fra"]["checks"]
    assert x["core_routers"][0]["announced"] == ["fra", "ams"]
    human = topo.cli("explain", "10.30.0.5")
    assert human.returncode == 0
    assert "leaves through ams" in human.stdout
    assert "10.30.0.0/16 (longest match for 10.30.0.5)" in human.stdout


def test_drain_and_undrain(topo: Topology) -> None:
    r = ok(topo, "drain", "ams")
    assert r["drained"]
    assert r["paths"] == 4
    wait_for("ams paths de-preferred on the core", lambda: core_best(topo)["10.30.0.0/16"] == FRA, timeout=30)
    d = topo.core.route_detail("10.30.0.0/16")
    ams = next(p for p in d["paths"] if p["nexthops"][0]["ip"] == AMS)
    assert ams["locPrf"] == 0
    assert "65535:0" in str(ams["community"]) or "gracefulShutdown" in str(ams["community"])
    ok(topo, "undrain", "ams")
    wait_for("ams preferred again", lambda: core_best(topo)["10.30.0.0/16"] == AMS, timeout=30)
    hist = ok(topo, "history", "10.30.0.0/16")["records"]
    reasons = [h["reason"] for h in hist]
    assert "drain egress ams" in reasons
    assert "undrain egress ams" in reasons


def test_simulate_then_fail_for_real(topo: Topology) -> None:
    before = core_best(topo)
    sim = ok(topo, "simulate", "--fail", "fra")
    assert sim["bgp_updates"] == 1
    assert not sim["fail_static"]
    predicted = dict(before)
    for m in sim["moved"]:
        predicted[m["prefix"]] = NH[m["to"]]
    for w in sim["withdrawn"]:
        predicted[w["prefix"]] = None
    assert core_best(topo) == before, "simulate must not touch the network"
    topo.block_probes("aws", True)
    try:
        wait_for(
            "fra out of service", lambda: not ok(topo, "show", "egress", "fra")["egresses"][0]["in_service"], timeout=30
        )
        wait_for("the core converged", lambda: core_best(topo) == predicted, timeout=30)
        hist = ok(topo, "history", "10.10.1.0/24")["records"]
        assert any(h["kind"] == "egress" and h["egress"] == "fra" and h["new"] == "down" for h in hist)
    finally:
        topo.block_probes("aws", False)
    wait_for("fra back in service", lambda: ok(topo, "show", "egress", "fra")["egresses"][0]["in_service"], timeout=30)
    wait_for("the core back as before", lambda: core_best(topo) == before, timeout=30)


def test_reload_good_and_bad(topo: Topology) -> None:
    original = topo.config.read_text()
    digest = ok(topo, "status")["config"]["digest"]
    try:
        topo.config.write_text(replaced(original, ("local_pref: 160, med: 10", "local_pref: 160, med: oops")))
        bad = topo.cli("reload")
        assert bad.returncode == 4
        assert "running configuration is kept" in bad.stderr
        assert "med" in bad.stderr
        assert "Traceback" not in bad.stderr
        assert ok(topo, "status")["config"]["digest"] == digest
        topo.config.write_text(replaced(original, ("local_pref: 160, med: 10", "local_pref: 160, med: 11")))
        r = ok(topo, "reload")
        assert r["new_digest"] != digest
        assert r["announced"] == 2
        assert sorted(c["prefix"] for c in r["changes"]) == ["10.10.0.0/16", "10.30.0.0/16"]
        assert all(c["egress"] == "ams" and "med 10" in c["old"] and "med 11" in c["new"] for c in r["changes"])
        wait_for(
            "new MED on the core",
            lambda: any(p.get("metric") == 11 for p in topo.core.routes()["10.30.0.0/16"]),
            timeout=30,
        )
    finally:
        topo.config.write_text(original)
        ok(topo, "reload")


def test_bad_input_is_a_message_and_an_exit_code(topo: Topology) -> None:
    cases = [
        (("explain", "99.0.0.1"), 1, "no route in bgpsteer's RIB covers it"),
        (("explain", "not-an-address"), 2, "not an address or prefix"),
        (("show", "routes", "--egress", "nowhere"), 2, "unknown egress 'nowhere'"),
        (("drain", "nowhere"), 2, "unknown egress 'nowhere'"),
        (("simulate", "--fail", "nowhere"), 2, "unknown egress"),
        (("history", "10.10.0.0/16", "--limit", "x"), 2, "Invalid value"),
    ]
    for args, code, text in cases:
        p = topo.cli(*args)
        assert p.returncode == code, (args, p.returncode, p.stderr)
        assert text in p.stderr, (args, p.stderr)
        assert "Traceback" not in p.stderr, (args, p.stderr)
    absent = topo.cli("status", socket="/nonexistent/control.sock")
    assert absent.returncode == 3
    assert "does not exist" in absent.stderr
    denied = topo.cli("status", user="nobody")
    assert denied.returncode == 3
    assert "not permitted" in denied.stderr
    assert "Traceback" not in denied.stderr


def test_metrics_endpoint(topo: Topology) -> None:
    text = topo.metrics()
    assert 'bgpsteer_egress_in_service{egress="fra"} 1.0' in text
    assert 'bgpsteer_peer_up{peer="core1",role="core"} 1.0' in text
    assert "bgpsteer_decision_duration_seconds_count" in text
    assert "bgpsteer_exabgp_lag_seconds_bucket" in text
    assert "10.10." not in text  # no per-prefix labels
