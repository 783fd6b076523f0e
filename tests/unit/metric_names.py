"""Every metric name the agent exports: what the dashboards and the Prometheus rules may use."""

from __future__ import annotations

from pathlib import Path

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
