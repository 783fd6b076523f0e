"""The shipped Grafana dashboard queries only metrics the agent really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.unit.metric_names import exported_names

ROOT = Path(__file__).resolve().parents[2]


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
