"""A fleet: two hubs, each a redundant pair of route servers (lab/pair.py), and one Prometheus (Debian's package)
that scrapes all four agents with the shipped rules loaded.

    fra-rs  fra-rsb  sin-rs  sin-rsb      (each its hub's pair, with its own core and cloud gateways)
       \\       |        |      /
        +------ mon (Prometheus) -----+   10.199.H.0/30 and 10.199.H.4/30: one monitoring link per agent

Each hub's namespaces are a network of their own, so both hubs use the pair's addresses; only the monitoring links
need their own.  Every agent's metrics listen on its monitoring link's address; the scrape config gives each hub's
targets a hub label (docs/operations.md: "A redundant pair and a fleet view").
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.netlab import Lab, sh, wait_for
from lab.pair import Pair
from lab.pair import build as build_pair
from lab.textedit import replaced
from lab.topology import CLASSES, LAB_CONFIG

RULES = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "bgpsteer.rules.yml"
HUBS = ("fra", "sin")
AGENTS = ("rs", "rsb")
PROMETHEUS = "127.0.0.1:9490"  # on the monitoring namespace's loopback
METRICS_PORT = 9474


@dataclass
class Fleet:
    lab: Lab
    pairs: dict[str, Pair]
    targets: dict[tuple[str, str], str]  # (hub, agent) -> its metrics address, as Prometheus's instance label

    def api(self, path: str) -> Any:
        """GET Prometheus's HTTP API from the monitoring namespace: the answer's data (None until it answers)."""
        url = f"http://{PROMETHEUS}/api/v1/{path}"
        code = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=5).read().decode())"
        out = sh(sys.executable, "-c", code, ns=self.lab.ns("mon"), check=False)
        try:
            doc = json.loads(out)
        except ValueError:
            return None
        return doc["data"] if doc.get("status") == "success" else None

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's samples ([] until Prometheus answers)."""
        data = self.api("query?" + urllib.parse.urlencode({"query": promql}))
        return list(data["result"]) if data else []

    def head_series(self) -> int:
        """Series in Prometheus's head block: what the fleet costs it (docs/operations.md: "Past one machine")."""
        data = self.api("status/tsdb")
        return int(data["headStats"]["numSeries"]) if data else 0

    def agent(self, sample: dict[str, Any]) -> tuple[str, str]:
        """(hub, agent) of a sample, from its hub and instance labels."""
        by_instance = {address: key for key, address in self.targets.items()}
        return by_instance[sample["metric"]["instance"]]


def scrape_config(targets: dict[tuple[str, str], str], interval: str = "1s") -> str:
    lines = [
        f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}",
        f"rule_files: [{RULES}]",
        "scrape_configs:",
        "  - job_name: bgpsteer",
        "    static_configs:",
    ]
    for hub in HUBS:
        addresses = ", ".join(f"'{a}'" for (h, _), a in sorted(targets.items()) if h == hub)
        lines += [f"      - targets: [{addresses}]", f"        labels: {{hub: {hub}}}"]
    return "\n".join(lines) + "\n"


def fleet_config() -> str:
    """lab.yaml with the two application classes (per-class state in every agent's metrics); the probes keep a
    200-round window so the classes' loss thresholds are more than one lost probe (`bgpsteer check` says so)."""
    text = replaced(LAB_CONFIG.read_text(), ("probe: {type: icmp,", "probe: {type: icmp, window: 200,"))
    return text + CLASSES


def build(lb: Lab, python: str = sys.executable) -> Fleet:
    config = lb.path("fleet.yaml")
    config.write_text(fleet_config())
    targets: dict[tuple[str, str], str] = {}
    for h, hub in enumerate(HUBS):
        for i, rs in enumerate(AGENTS):
            agent_side, mon_side = f"10.199.{h}.{4 * i + 1}", f"10.199.{h}.{4 * i + 2}"
            lb.link(f"{hub}-{rs}", f"{agent_side}/30", "mon", f"{mon_side}/30")
            targets[(hub, rs)] = f"{agent_side}:{METRICS_PORT}"
    pairs = {
        hub: build_pair(lb, config, python, hub=f"{hub}-", metrics={rs: targets[(hub, rs)] for rs in AGENTS})
        for hub in HUBS
    }
    scrape = lb.path("prometheus.yml")
    scrape.write_text(scrape_config(targets))
    proc = lb.spawn(
        "mon",
        [
            "prometheus",
            f"--config.file={scrape}",
            f"--storage.tsdb.path={lb.path('prometheus-data')}",
            f"--web.listen-address={PROMETHEUS}",
        ],
        "prometheus.log",
    )
    fleet = Fleet(lb, pairs, targets)
    wait_for(
        "Prometheus scraping every agent",
        lambda: (
            lb.alive(proc, "prometheus.log")
            and len([s for s in fleet.query('up{job="bgpsteer"}') if s["value"][1] == "1"]) == len(targets)
        ),
        timeout=120,
        interval=1,
    )
    return fleet
