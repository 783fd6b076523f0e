"""One table over several agents (a hub's redundant pair, every hub): what each says about every egress, and
where the agents of one hub disagree.

An agent is read from its control socket (full detail) or, on another host, from the metrics endpoint Prometheus
already scrapes (plain HTTP GET of /metrics: no protocol of our own, no new port).  Reading is all this does;
drain and undrain take repeated --socket for acting on a pair.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bgpsteer.noc.client import CtlError, call


@dataclass(frozen=True)
class EgressState:
    health: str
    in_service: bool
    drained: bool
    paths: int | None = None
    latency_ms: float | None = None
    loss_pct: float | None = None
    classes: dict[str, bool] = field(default_factory=dict)  # class -> in service for its sessions


@dataclass(frozen=True)
class Agent:
    name: str  # HUB/NAME as the operator labelled it
    source: str  # a control socket path or a metrics URL
    error: str | None = None  # why it could not be read
    fail_static: bool = False
    prefixes: int | None = None
    digest: str | None = None
    egresses: dict[str, EgressState] = field(default_factory=dict)

    @property
    def hub(self) -> str:
        return self.name.rsplit("/", 1)[0] if "/" in self.name else ""


@dataclass(frozen=True)
class Disagreement:
    hub: str
    egress: str
    what: str  # "in service", "drained" or "class CLASS"
    yes: tuple[str, ...]  # agents for which it holds
    no: tuple[str, ...]


def parse_spec(spec: str) -> tuple[str, str]:
    """``[HUB/]NAME=SOCKET_OR_URL`` -> (name, source); a bare source is its own name."""
    name, sep, source = spec.partition("=")
    if not sep:
        return spec, spec
    if not name or not source:
        raise ValueError(f"--agent {spec!r}: expected [HUB/]NAME=SOCKET or [HUB/]NAME=http://HOST:PORT/metrics")
    return name, source


def from_answers(name: str, source: str, status: dict[str, Any], egresses: dict[str, Any]) -> Agent:
    """An agent from its control socket's `status` and `egress` answers."""
    out = {}
    for e in egresses["egresses"]:
        m = e["measured"]
        out[e["egress"]] = EgressState(
            health=e["health"]["state"],
            in_service=bool(e["in_service"]),
            drained=bool(e["drained"]),
            paths=e["paths"],
            latency_ms=m["latency_ms"],
            loss_pct=m["loss_pct"],
            classes={c: bool(v["in_service"]) for c, v in e["classes"].items()},
        )
    return Agent(
        name,
        source,
        fail_static=bool(status["fail_static"]),
        prefixes=status["routes"]["prefixes"],
        digest=status["config"]["digest"],
        egresses=out,
    )


# egress series of the metrics page -> (EgressState field, value from the sample's value)
_EGRESS_SERIES: dict[str, tuple[str, Callable[[float], Any]]] = {
    "bgpsteer_egress_in_service": ("in_service", lambda v: v == 1),
    "bgpsteer_egress_drained": ("drained", lambda v: v == 1),
    "bgpsteer_egress_paths": ("paths", int),
    "bgpsteer_egress_latency_seconds": ("latency_ms", lambda v: v * 1000),
    "bgpsteer_egress_loss_ratio": ("loss_pct", lambda v: v * 100),
}


def from_metrics_text(name: str, source: str, text: str) -> Agent:
    """An agent from its /metrics page (the exposition format bgpsteer's metrics endpoint writes)."""
    per: dict[str, dict[str, Any]] = {}
    classes: dict[str, dict[str, bool]] = {}
    scalar: dict[str, float] = {}
    digest = None
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels, value = s.labels, s.value
            if s.name in _EGRESS_SERIES:
                key, convert = _EGRESS_SERIES[s.name]
                per.setdefault(labels["egress"], {})[key] = convert(value)
            elif s.name == "bgpsteer_egress_health_state" and value == 1:
                per.setdefault(labels["egress"], {})["health"] = labels["state"]
            elif s.name == "bgpsteer_class_egress_in_service":
                classes.setdefault(labels["egress"], {})[labels["class"]] = value == 1
            elif s.name in ("bgpsteer_fail_static", "bgpsteer_prefixes"):
                scalar[s.name] = value
            elif s.name == "bgpsteer_config_info":
                digest = labels.get("digest")
    if not per:
        raise ValueError("no bgpsteer_egress_* series: not a bgpsteer metrics endpoint")
    egresses = {
        e: EgressState(
            health=str(v.get("health", "unknown")),
            in_service=bool(v.get("in_service")),
            drained=bool(v.get("drained")),
            paths=v.get("paths"),
            latency_ms=v.get("latency_ms"),
            loss_pct=v.get("loss_pct"),
            classes=classes.get(e, {}),
        )
        for e, v in per.items()
    }
    prefixes = scalar.get("bgpsteer_prefixes")
    return Agent(
        name,
        source,
        fail_static=scalar.get("bgpsteer_fail_static") == 1,
        prefixes=None if prefixes is None else int(prefixes),
        digest=digest,
        egresses=egresses,
    )


def read(name: str, source: str, timeout: float = 10.0) -> Agent:
    """One agent, or an Agent with the reason it could not be read (never raises for an unreachable agent)."""
    if source.startswith(("http://", "https://")):
        url = source if source.rstrip("/").endswith("/metrics") else source.rstrip("/") + "/metrics"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as r:
                return from_metrics_text(name, source, r.read().decode())
        except (OSError, urllib.error.URLError, ValueError) as exc:
            return Agent(name, source, error=f"{url}: {exc}")
    try:
        return from_answers(
            name, source, call(source, "status", timeout=timeout), call(source, "egress", timeout=timeout)
        )
    except CtlError as exc:
        return Agent(name, source, error=str(exc))


def read_all(specs: Sequence[tuple[str, str]], reader: Callable[[str, str], Agent] = read) -> list[Agent]:
    """Every agent at once (a dead host costs one timeout, not one per agent), in the order given."""
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(specs)))) as pool:
        return list(pool.map(lambda s: reader(*s), specs))


def disagreements(agents: Iterable[Agent]) -> list[Disagreement]:
    """Per hub, the egresses whose service, drain or per-class service differs between the agents that answered
    (an agent that does not know the egress at all is a config difference, reported as not in service)."""
    hubs: dict[str, list[Agent]] = {}
    for a in agents:
        if a.error is None:
            hubs.setdefault(a.hub, []).append(a)
    out = []
    for hub, members in hubs.items():
        if len(members) < 2:  # noqa: PLR2004 - a disagreement needs two
            continue
        for e in sorted({e for a in members for e in a.egresses}):
            classes = sorted({c for a in members if e in a.egresses for c in a.egresses[e].classes})
            service: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
            for what in ("in service", "drained", *(f"class {c}" for c in classes)):
                holds = _holds(what)
                yes = tuple(a.name for a in members if holds(a.egresses.get(e)))
                no = tuple(a.name for a in members if not holds(a.egresses.get(e)))
                if what == "in service":
                    service = yes, no
                # a class that splits the agents just as the egress does says nothing new
                if yes and no and not (what.startswith("class ") and service == (yes, no)):
                    out.append(Disagreement(hub, e, what, yes, no))
    return out


def _holds(what: str) -> Callable[[EgressState | None], bool]:
    if what == "in service":
        return lambda s: s is not None and s.in_service
    if what == "drained":
        return lambda s: s is not None and s.drained
    cls = what.removeprefix("class ")
    return lambda s: s is not None and s.classes.get(cls, False)
