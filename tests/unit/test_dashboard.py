"""The shipped Grafana dashboard queries only metrics the agent really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bgpsteer.config.loader import load
from bgpsteer.core.events import EgressChanged
from bgpsteer.noc.metrics import Metrics
from bgpsteer.runtime.agent import Agent

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "info": ("_info",), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every metric name the agent exports, for the lab's config and the example policy (compliance, classes)."""
    names: set[str] = set()
    for config in (ROOT / "lab" / "lab.yaml", ROOT / "policies" / "example.yaml"):
        agent = Agent(str(config), load(config), lambda b: None, clock=lambda: 0.0)
        m = Metrics(agent)
        m.record(EgressChanged(1, 0.0, agent.engine.config.egresses[0].id, "up", "down", False, "test"))
        m.lag(0.1)
        for fam in text_string_to_metric_families(m.render().decode()):
            names.update(fam.name + s for s in SUFFIXES.get(fam.type, ("",)))
            names.update(s.name for s in fam.samples)
    return names


@pytest.mark.parametrize(
    ("dashboard", "metrics", "recorded_rules"), [("bgpsteer.json", 15, 0), ("bgpsteer-fleet.json", 6, 5)]
)
def test_every_dashboard_query_uses_an_exported_metric(dashboard: str, metrics: int, recorded_rules: int) -> None:
    """The single-agent view and the fleet view; the fleet view's recording rules exist in the shipped rules."""
    dash = json.loads((ROOT / "grafana" / dashboard).read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"(?<![:\w])bgpsteer_[a-z0-9_]+", e)}  # not rule names
    assert len(used) >= metrics
    exported = exported_names()
    assert used <= exported, f"dashboard queries unknown metrics: {sorted(used - exported)}"
    rules = (ROOT / "deploy" / "prometheus" / "bgpsteer.rules.yml").read_text()
    recorded = set(re.findall(r"record: (\S+)", rules))
    used_rules = {name for e in exprs for name in re.findall(r"\b[a-z_]+:[a-z0-9_]+:[a-z]+\b", e)}
    assert len(used_rules) >= recorded_rules
    assert used_rules <= recorded, f"dashboard queries unknown recording rules: {sorted(used_rules - recorded)}"


def test_metric_names_follow_prometheus_conventions() -> None:
    for name in exported_names():
        assert re.fullmatch(r"bgpsteer_[a-z0-9_]+", name), name
        if name.endswith("_seconds"):
            continue
        assert not re.search(r"_(ms|milliseconds|percent)$", name), f"{name}: use base units (seconds, ratio)"
