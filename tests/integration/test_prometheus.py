"""A real Prometheus (Debian's package) scrapes the lab's agent with the shipped rules loaded: per-egress health,
latency, loss and in-service state reach it with the fleet labels; an egress failure shows in the series, in the
recording rules and as a pending alert.  Prometheus runs inside the route server's namespace on its loopback."""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.netlab import lab, sh, wait_for
from lab.topology import LAB_CONFIG, Topology, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("prometheus")

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "bgpsteer.rules.yml"
LISTEN = "127.0.0.1:9490"


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb, LAB_CONFIG)
        assert t.settings.metrics
        config = lb.path("prometheus.yml")
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"rule_files: [{RULES}]\n"
            "scrape_configs:\n"
            "  - job_name: bgpsteer\n"
            "    static_configs:\n"
            f"      - targets: ['{t.settings.metrics}']\n"
            "        labels: {hub: lab-fra}\n"
        )
        lb.spawn(
            "rs",
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={lb.path('prometheus-data')}",
                f"--web.listen-address={LISTEN}",
            ],
            "prometheus.log",
        )
        yield t


def query(t: Topology, promql: str) -> list[dict[str, Any]]:
    """Prometheus's HTTP API from inside the namespace: the instant vector's samples."""
    url = f"http://{LISTEN}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
    out = sh(sys.executable, "-c", code, ns=t.lab.ns("rs"), check=False)
    try:
        doc = json.loads(out)
    except ValueError:
        return []  # not up yet
    result: list[dict[str, Any]] = doc["data"]["result"] if doc.get("status") == "success" else []
    return result


def values(t: Topology, promql: str) -> dict[str, float]:
    return {s["metric"].get("egress", s["metric"].get("__name__", "")): float(s["value"][1]) for s in query(t, promql)}


def test_prometheus_has_every_egress_with_the_fleet_labels(topo: Topology) -> None:
    wait_for(
        "both egresses in service in Prometheus",
        lambda: values(topo, 'bgpsteer_egress_in_service{job="bgpsteer",hub="lab-fra"}') == {"fra": 1.0, "ams": 1.0},
        timeout=60,
        interval=1,
    )
    for metric in ("bgpsteer_egress_health_state", "bgpsteer_egress_latency_seconds", "bgpsteer_egress_loss_ratio"):
        samples = query(topo, f'{metric}{{hub="lab-fra"}}')
        assert {s["metric"]["egress"] for s in samples} == {"fra", "ams"}, metric
        assert all(s["metric"]["instance"] == topo.settings.metrics for s in samples)
    latency = values(topo, "bgpsteer_egress_latency_seconds")
    assert all(0 < v < 1 for v in latency.values()), latency  # measured by the probes, in seconds
    wait_for(  # the recording rules, at their first evaluations
        "the recording rules",
        lambda: (
            values(topo, "hub_egress:bgpsteer_egress_in_service:min") == {"fra": 1.0, "ams": 1.0}
            and values(topo, 'hub:bgpsteer_agents_up:sum{hub="lab-fra"}') == {"hub:bgpsteer_agents_up:sum": 1.0}
        ),
        timeout=30,
        interval=1,
    )
    assert values(topo, 'hub:bgpsteer_agents_up:sum{hub="lab-fra"}') == {"hub:bgpsteer_agents_up:sum": 1.0}


def test_an_egress_failure_reaches_prometheus_and_raises_the_alert(topo: Topology) -> None:
    topo.block_probes("gcp", True)
    try:
        wait_for(
            "ams out of service in Prometheus",
            lambda: values(topo, "bgpsteer_egress_in_service").get("ams") == 0.0,
            timeout=60,
            interval=1,
        )
        wait_for(  # the recording rule follows at its next evaluation (1 s here; later on a loaded machine)
            "the recording rule sees ams out on every agent",
            lambda: values(topo, "hub_egress:bgpsteer_egress_in_service:max").get("ams") == 0.0,
            timeout=30,
            interval=1,
        )
        alerts = wait_for(
            "BgpsteerEgressDown pending for ams",
            lambda: query(topo, 'ALERTS{alertname="BgpsteerEgressDown",egress="ams"}'),
            timeout=30,
            interval=1,
        )
        assert alerts[0]["metric"]["alertstate"] in ("pending", "firing")
        assert alerts[0]["metric"]["hub"] == "lab-fra"
        assert not query(topo, 'ALERTS{alertname="BgpsteerEgressDown",egress="fra"}')
    finally:
        topo.block_probes("gcp", False)
    wait_for(
        "ams back in service in Prometheus",
        lambda: values(topo, "bgpsteer_egress_in_service").get("ams") == 1.0,
        timeout=90,
        interval=1,
    )
    wait_for(
        "the alert resolved",
        lambda: not query(topo, 'ALERTS{alertname="BgpsteerEgressDown",egress="ams"}'),
        timeout=30,
        interval=1,
    )
