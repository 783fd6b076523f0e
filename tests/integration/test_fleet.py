"""One view over every hub (lab/fleet.py): a real Prometheus (Debian's package) scrapes two hubs x two agents with
the shipped rules loaded.  Per-egress health, latency, loss, in-service state and per-class state reach it for every
agent with its hub label; a disagreement inside one hub's pair shows in the recording rules and raises
BgpsteerPairDisagrees as pending, an egress down on both agents raises BgpsteerEgressDown for that hub only, and
both resolve when the egress returns.  The CLI's fleet view over the four control sockets tells the same story."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bgpsteer.config.loader import load
from lab.fleet import AGENTS, HUBS, Fleet, build
from lab.netlab import lab, sh, wait_for
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("prometheus")

EGRESSES = {"fra", "ams"}
EVERY_AGENT = {(hub, rs) for hub in HUBS for rs in AGENTS}


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with lab() as lb:
        yield build(lb)


def per_agent(f: Fleet, promql: str) -> dict[tuple[str, str], dict[str, float]]:
    """(hub, agent) -> egress -> value."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    for s in f.query(promql):
        out.setdefault(f.agent(s), {})[s["metric"]["egress"]] = float(s["value"][1])
    return out


def per_hub(f: Fleet, promql: str) -> dict[tuple[str, str], float]:
    """(hub, egress) -> value, for the hub_egress recording rules."""
    return {(s["metric"]["hub"], s["metric"]["egress"]): float(s["value"][1]) for s in f.query(promql)}


def alerts(f: Fleet, name: str) -> set[tuple[str, str, str]]:
    return {
        (s["metric"]["hub"], s["metric"]["egress"], s["metric"]["alertstate"])
        for s in f.query(f'ALERTS{{alertname="{name}"}}')
    }


def fleet_cli(f: Fleet) -> dict[str, Any]:
    """`bgpsteer fleet` over all four agents from the monitoring namespace: hub fra's by their control sockets,
    hub sin's by their metrics URLs (as for agents on other hosts)."""
    specs = [
        f"{hub}/{rs}="
        + (load(f.pairs[hub].configs[rs]).agent.socket_path if hub == "fra" else f"http://{f.targets[(hub, rs)]}")
        for hub in HUBS
        for rs in AGENTS
    ]
    args = [sys.executable, "-m", "bgpsteer", "fleet", "--json", *(a for s in specs for a in ("--agent", s))]
    doc: dict[str, Any] = json.loads(sh(*args, ns=f.lab.ns("mon")))
    return doc


def test_prometheus_has_every_egress_and_class_of_every_agent_of_every_hub(fleet: Fleet) -> None:
    everywhere = {agent: {e: 1.0 for e in EGRESSES} for agent in EVERY_AGENT}
    wait_for(
        "every egress in service on every agent in Prometheus",
        lambda: per_agent(fleet, 'bgpsteer_egress_in_service{job="bgpsteer"}') == everywhere,
        timeout=90,
        interval=1,
    )
    for metric in ("bgpsteer_egress_health_state", "bgpsteer_egress_latency_seconds", "bgpsteer_egress_loss_ratio"):
        seen = per_agent(fleet, metric)
        assert {agent: set(v) for agent, v in seen.items()} == {agent: EGRESSES for agent in EVERY_AGENT}, metric
    for agent, latency in per_agent(fleet, "bgpsteer_egress_latency_seconds").items():
        assert all(0 < v < 1 for v in latency.values()), (agent, latency)  # measured by its own probes, in seconds
    classes = {(fleet.agent(s), s["metric"]["class"]) for s in fleet.query("bgpsteer_class_egress_sla_fit")}
    assert classes == {(agent, c) for agent in EVERY_AGENT for c in ("realtime", "bulk")}
    wait_for(  # the recording rules, at their first evaluations
        "the recording rules over both hubs",
        lambda: (
            per_hub(fleet, "hub_egress:bgpsteer_egress_in_service:min") == {(h, e): 1.0 for h in HUBS for e in EGRESSES}
            and {s["metric"]["hub"]: float(s["value"][1]) for s in fleet.query("hub:bgpsteer_agents_up:sum")}
            == {h: 2.0 for h in HUBS}
        ),
        timeout=30,
        interval=1,
    )
    series = fleet.head_series()
    print(f"Prometheus head series for {len(EVERY_AGENT)} agents (with the rules' output): {series}")
    assert series > len(EVERY_AGENT) * 50  # every agent's page is there (bench/series.py: ~100 per agent)
    fit = {
        (s["metric"]["instance"], s["metric"]["class"])
        for s in fleet.query("instance_class:bgpsteer_class_egress_sla_fit:sum")
    }
    assert fit == {(fleet.targets[agent], c) for agent in EVERY_AGENT for c in ("realtime", "bulk")}


def test_a_disagreement_then_an_egress_down_in_one_hub(fleet: Fleet) -> None:
    fra = fleet.pairs["fra"]
    fra.block_probes("rs", "gcp", True)  # only fra's rs sees ams fail
    try:
        wait_for(
            "the pair of hub fra disagrees about ams in the recording rules",
            lambda: (
                per_hub(fleet, "hub_egress:bgpsteer_egress_in_service:max").get(("fra", "ams")) == 1.0
                and per_hub(fleet, "hub_egress:bgpsteer_egress_in_service:min").get(("fra", "ams")) == 0.0
            ),
            timeout=60,
            interval=1,
        )
        wait_for(
            "BgpsteerPairDisagrees pending for fra/ams only",
            lambda: alerts(fleet, "BgpsteerPairDisagrees") == {("fra", "ams", "pending")},
            timeout=30,
            interval=1,
        )
        assert per_hub(fleet, "hub_egress:bgpsteer_egress_in_service:min").get(("sin", "ams")) == 1.0
        view = fleet_cli(fleet)  # the CLI's view says the same, from the agents themselves
        assert [a["error"] for a in view["agents"]] == [None] * 4
        assert view["disagreements"] == [
            {"hub": "fra", "egress": "ams", "what": "in service", "yes": ["fra/rsb"], "no": ["fra/rs"]}
        ]
        fra.block_probes("rsb", "gcp", True)  # now both agents of fra see it
        wait_for(
            "ams out on both agents of fra",
            lambda: per_hub(fleet, "hub_egress:bgpsteer_egress_in_service:max").get(("fra", "ams")) == 0.0,
            timeout=60,
            interval=1,
        )
        down = wait_for(
            "BgpsteerEgressDown for fra/ams on both agents",
            lambda: (
                [s for s in fleet.query('ALERTS{alertname="BgpsteerEgressDown"}') if s["metric"]["egress"] == "ams"]
                if len(fleet.query('ALERTS{alertname="BgpsteerEgressDown",egress="ams"}')) == 2
                else None
            ),
            timeout=30,
            interval=1,
        )
        assert {fleet.agent(s) for s in down} == {("fra", "rs"), ("fra", "rsb")}  # not sin's: its ams is fine
        assert not fleet.query('ALERTS{alertname="BgpsteerEgressDown",egress="fra"}')
    finally:
        fra.block_probes("rs", "gcp", False)
        fra.block_probes("rsb", "gcp", False)
    wait_for(
        "ams back in service on both agents of fra",
        lambda: per_hub(fleet, "hub_egress:bgpsteer_egress_in_service:min").get(("fra", "ams")) == 1.0,
        timeout=90,
        interval=1,
    )
    wait_for(
        "the alerts resolved",
        lambda: not fleet.query('ALERTS{alertname=~"BgpsteerEgressDown|BgpsteerPairDisagrees"}'),
        timeout=30,
        interval=1,
    )
