"""Scenarios as data (lab/scenarios/*.yaml): steps that inject faults into a lab built from a containerlab
topology, and expectations read from the core's RIB and from the agent.  One command runs one or all of them,
writes a report (lab/report.py) and exits non-zero when an expectation fails, so CI can run them.

    python -m lab.scenario run --all --report /tmp/report
    python -m lab.scenario run lab/scenarios/egress-blackhole.yaml

A scenario (every key is documented in lab/scenarios/README.md)::

    name: egress-blackhole
    topology: ../bgpsteer.clab.yml          # relative to the scenario file; this is the default
    steps:
      - expect: {name: initial, within: 60, routes: {10.20.0.0/16: ams}, snapshot: start}
      - blackhole: {egress: ams}            # its probes dropped at its gateway, BGP stays up
                                            # (fail: the route server's link to the gateway goes down)
      - expect: {within: 10, routes: {10.20.0.0/16: fra}, max_changes: 3}
      - restore: {egress: ams}
      - expect: {within: 30, same_as: start, hold: 3}

Each scenario runs in a lab of its own (deployed, then torn down), so no scenario sees another's leftovers.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bgpsteer.config.loader import load as load_config
from bgpsteer.core.model import Config
from bgpsteer.core.prefix import parse_prefix
from lab.clab import ClabTopology, Deployed, deploy
from lab.clab import load as load_topology
from lab.netlab import lab, sh

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
DEFAULT_TOPOLOGY = HERE / "bgpsteer.clab.yml"
ACTIONS = {
    "fail": {"egress"},
    "blackhole": {"egress"},
    "restore": {"egress"},
    "degrade": {"egress", "loss_pct"},
    "withdraw": {"peer", "prefix"},
    "announce": {"peer", "prefix"},
    "stop_peer": {"peer"},
    "start_peer": {"peer"},
    "restart_helper": set(),
    "drain": {"egress"},
    "undrain": {"egress"},
    "reload": {"replace"},
    "sleep": {"seconds"},
}
EXPECT_KEYS = {
    "name",
    "within",
    "hold",
    "routes",
    "avoid",
    "absent",
    "present",
    "same_as",
    "snapshot",
    "max_changes",
    "compliance",
    "in_service",
}
NONE = "none"  # an expected egress: no usable path on the core
GLITCH = 0.5  # seconds: a shorter gap without a best path between two egresses is FRR recomputing, one move


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    kind: str  # an action or "expect"
    args: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    topology: Path
    description: str
    steps: tuple[Step, ...]


class _Loader(yaml.SafeLoader):
    pass


def _mapping_with_lines(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    out = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    out["__line__"] = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_lines)


def _strip(value: Any) -> Any:
    """The document without the line numbers _Loader put into every mapping."""
    if isinstance(value, dict):
        return {str(k): _strip(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def parse(path: Path) -> Scenario:
    """A scenario file, checked; a ScenarioError names the file, line and key of every problem at once."""
    doc = yaml.load(path.read_text(), Loader=_Loader)
    errors: list[str] = []
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping with name and steps")
    steps = [st for raw in doc.get("steps") or [] if (st := _step(path, raw, errors)) is not None]
    if not steps:
        errors.append(f"{path}: steps: none")
    if errors:
        raise ScenarioError("\n".join(errors))
    if not isinstance(doc.get("name"), str):
        errors.insert(0, f"{path}:{doc.get('__line__', 1)}: name: required")
    if errors:
        raise ScenarioError("\n".join(errors))
    topology = (path.parent / str(doc.get("topology", DEFAULT_TOPOLOGY))).resolve()
    return Scenario(str(doc.get("name", path.stem)), path, topology, str(doc.get("description", "")), tuple(steps))


def _step(path: Path, raw: Any, errors: list[str]) -> Step | None:
    line = raw.pop("__line__", 0) if isinstance(raw, dict) else 0
    if not isinstance(raw, dict) or len(raw) != 1:
        errors.append(f"{path}:{line}: a step is one action or expect: {{...}}")
        return None
    ((kind, args),) = raw.items()
    args = _strip(dict(args or {}))
    known = EXPECT_KEYS if kind == "expect" else ACTIONS.get(kind)
    if known is None:
        errors.append(f"{path}:{line}: {kind}: unknown step (one of expect, {', '.join(sorted(ACTIONS))})")
        return None
    errors += [
        f"{path}:{line}: {kind}.{key}: unknown key (known: {', '.join(sorted(known)) or 'none'})"
        for key in sorted(set(args) - known)
    ]
    if kind != "expect":
        errors += [f"{path}:{line}: {kind}.{key}: required" for key in sorted(known - set(args))]
    for prefix in [*(args.get("routes") or {}), *(args.get("absent") or []), *(args.get("present") or [])]:
        try:
            parse_prefix(str(prefix))
        except ValueError as exc:
            errors.append(f"{path}:{line}: {kind}: {exc}")
    return Step(str(kind), args, int(line))


# -- what the lab shows -----------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """What the poller saw: the core's egress per prefix and the agent's measurements over time, and events."""

    start: float = field(default_factory=time.monotonic)
    routes: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    measured: list[tuple[float, dict[str, dict[str, Any]]]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.start

    def changes(self, since: float) -> int:
        """Prefix moves on the core (a best path changing egress, appearing or going) after ``since``.  A prefix
        seen without a best path for less than GLITCH seconds between two egresses counts as one move, not two:
        FRR's JSON shows no best path while it re-runs best-path selection after a next-hop change."""
        count = 0
        prefixes = {p for _, snap in self.routes for p in snap}
        for prefix in prefixes:
            seq: list[tuple[float, str | None]] = []
            for t, snap in self.routes:
                e = snap.get(prefix)
                if not seq or seq[-1][1] != e:
                    seq.append((t, e))
            kept = [
                x
                for i, x in enumerate(seq)
                if not (
                    x[1] == NONE
                    and 0 < i < len(seq) - 1
                    and seq[i + 1][0] - x[0] < GLITCH
                    and seq[i - 1][1] not in (None, NONE)
                    and seq[i + 1][1] not in (None, NONE)
                )
            ]
            merged = [x for i, x in enumerate(kept) if i == 0 or kept[i - 1][1] != x[1]]
            count += sum(1 for t, _ in merged[1:] if t > since)
        return count


class Lab:
    """A deployed topology seen through its config: egress <-> gateway node, the core's routes by egress."""

    def __init__(self, d: Deployed) -> None:
        self.d = d
        self.rs = d.route_server
        self.config: Config = load_config(d.configs[self.rs])
        self.by_next_hop = {e.next_hop: e.id for e in self.config.egresses}
        addresses = {}  # what each node's namespace holds (link addresses, and those exec lines added)
        for node in d.topo.nodes:
            for line in sh("ip", "-o", "-4", "addr", "show", ns=d.lab.ns(node)).splitlines():
                addresses[line.split()[3].split("/")[0]] = node
        self.gateway = {p.egress: addresses[p.address] for p in self.config.cloud_peers if p.address in addresses}
        self.source = {p.egress: p.local_address for p in self.config.cloud_peers}
        self.timeline = Timeline()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._poll, self._measure)]

    def routes(self) -> dict[str, str]:
        """Steered prefix -> egress of the core's valid best path (NONE without one)."""
        out = {}
        for prefix, paths in self.d.core.routes().items():
            if prefix in {f"{e.next_hop}/32" for e in self.config.egresses}:
                continue
            best = [p["nexthops"][0]["ip"] for p in paths if p.get("bestpath") and p.get("valid")]
            out[prefix] = self.by_next_hop.get(best[0], best[0]) if best else NONE
        return out

    def agent(self, *args: str) -> Any:
        p = self.d.cli(*args, "--json")
        return json.loads(p.stdout) if p.returncode == 0 else None

    def _poll(self) -> None:
        while not self._stop.is_set():
            t = self.timeline.now()  # when the read began: a snapshot is at least this new
            try:
                self.timeline.routes.append((t, self.routes()))
            except Exception:
                pass
            time.sleep(0.1)

    def _measure(self) -> None:
        """The agent's measurements once a second, in their own thread (a CLI call takes longer than a RIB poll)."""
        while not self._stop.wait(1.0):
            eg = self.agent("show", "egress")
            if eg:
                self.timeline.measured.append(
                    (
                        self.timeline.now(),
                        {e["egress"]: {**e["measured"], "in_service": e["in_service"]} for e in eg["egresses"]},
                    )
                )

    def link_to(self, node: str) -> str:
        """The route server's interface on its link to ``node``."""
        for link in self.d.topo.links:
            ends = {link.a.node: link.a.iface, link.b.node: link.b.iface}
            if set(ends) == {self.rs, node}:
                return ends[self.rs]
        raise ScenarioError(f"no link between {self.rs} and {node}")

    def sync(self, timeout: float = 30) -> float:
        """The start of the first poll that began after now: changes are counted from that baseline."""
        after, deadline = self.timeline.now(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [t for t, _ in self.timeline.routes if t > after]
            if later:
                return later[0]
            time.sleep(0.05)
        raise ScenarioError("the RIB poller stopped")

    def __enter__(self) -> Lab:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(130)

    # -- actions ----------------------------------------------------------------------------------------------

    def do(self, step: Step) -> None:  # noqa: C901 - one branch per action, each short
        a, ns = step.args, self.d.lab.ns
        self.timeline.events.append((self.timeline.now(), describe(step)))
        if step.kind in ("fail", "restore"):  # the route server's link to the egress's gateway down / up
            sh(
                "ip",
                "link",
                "set",
                self.link_to(self.gateway[str(a["egress"])]),
                "down" if step.kind == "fail" else "up",
                ns=ns(self.rs),
            )
        if step.kind in ("blackhole", "restore", "degrade"):
            egress = str(a["egress"])
            gw, src = ns(self.gateway[egress]), self.source[egress]
            sh("nft", "delete table inet scenario_probes", ns=gw, check=False)
            if step.kind != "restore":
                drop = "drop" if step.kind == "blackhole" else f"numgen random mod 100 < {int(a['loss_pct'])} drop"
                sh("nft", "add table inet scenario_probes", ns=gw)
                sh("nft", "add chain inet scenario_probes in { type filter hook input priority 0 ; }", ns=gw)
                for match in ("icmp type echo-request", "udp dport 7"):
                    sh("nft", f"add rule inet scenario_probes in ip saddr {src} {match} {drop}", ns=gw)
        elif step.kind in ("withdraw", "announce"):
            bird = self.d.bird[str(a["peer"])]
            text, route = bird.conf.read_text(), f"route {a['prefix']} blackhole;"
            text = (
                text.replace(f" {route}", "")
                if step.kind == "withdraw"
                else text.replace("ipv4; ", f"ipv4; {route} ", 1)
            )
            bird.reconfigure(text)
        elif step.kind in ("stop_peer", "start_peer"):
            bird = self.d.bird[str(a["peer"])]
            for proto in re.findall(r"(?m)^protocol bgp (\S+)", bird.conf.read_text()):
                bird.cmd("disable" if step.kind == "stop_peer" else "enable", proto)
        elif step.kind == "restart_helper":
            status = self.agent("status")
            pid = int(status["runtime"]["pid"])
            sh("kill", f"-{int(signal.SIGKILL)}", str(pid))  # ExaBGP respawns its helper
        elif step.kind in ("drain", "undrain"):
            p = self.d.cli(step.kind, str(a["egress"]))
            if p.returncode != 0:
                raise ScenarioError(f"{step.kind} {a['egress']}: {p.stderr.strip()}")
        elif step.kind == "reload":
            path = self.d.configs[self.rs]
            text = path.read_text()
            for old, new in a["replace"]:
                text = text.replace(str(old), str(new))
            path.write_text(text)
            self.d.cli("reload")
            self.config = load_config(path)
        elif step.kind == "sleep":
            time.sleep(min(float(a["seconds"]), 300))

    # -- expectations -----------------------------------------------------------------------------------------

    def check(self, a: dict[str, Any], snapshots: dict[str, dict[str, str]]) -> list[str]:
        """What is wrong now (empty: the expectation holds)."""
        now = self.routes()
        wrong = [
            f"{p}: via {now.get(p, NONE)}, expected {want}"
            for p, want in (a.get("routes") or {}).items()
            if now.get(str(p), NONE) != str(want)
        ]
        wrong += [f"{p}: via {e}, expected to avoid it" for p, e in now.items() if e in set(a.get("avoid") or [])]
        wrong += [f"{p}: on the core, expected absent" for p in a.get("absent") or [] if now.get(str(p), NONE) != NONE]
        wrong += [f"{p}: no path on the core" for p in a.get("present") or [] if now.get(str(p), NONE) == NONE]
        if a.get("same_as"):
            before = snapshots.get(str(a["same_as"]), {})
            wrong += [
                f"{p}: via {now.get(p, NONE)}, was {e} at {a['same_as']}"
                for p, e in before.items()
                if now.get(p, NONE) != e
            ]
        if a.get("compliance"):
            wrong += self.compliance(now)
        if a.get("in_service"):
            status = self.agent("status") or {"egresses": []}
            have = {e["egress"]: e["in_service"] for e in status["egresses"]}
            wrong += [
                f"egress {e}: in service {have.get(e)}, expected {w}"
                for e, w in a["in_service"].items()
                if have.get(e) != w
            ]
        return wrong

    def compliance(self, now: dict[str, str]) -> list[str]:
        """Every compliance-bound prefix routed through an egress outside the rule's jurisdictions."""
        jurisdiction = {e.id: e.jurisdiction for e in self.config.egresses}
        out = []
        for prefix, egress in now.items():
            if egress == NONE:
                continue
            for rule in self.config.compliance:
                if parse_prefix(prefix) in rule.prefixes and jurisdiction.get(egress) not in rule.jurisdictions:
                    out.append(f"{prefix}: via {egress} ({jurisdiction.get(egress)}), outside compliance {rule.name}")
        return out


def describe(step: Step) -> str:
    args = ", ".join(f"{k}={v}" for k, v in step.args.items())
    return f"{step.kind} {args}".strip()


@dataclass
class Outcome:
    name: str
    line: int
    passed: bool
    detail: str
    at: float  # seconds into the scenario when it was decided
    took: float | None  # seconds until it held (convergence), None if it never did
    changes: int


@dataclass
class Result:
    scenario: Scenario
    outcomes: list[Outcome]
    timeline: Timeline
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(o.passed for o in self.outcomes)


def expect(lb: Lab, step: Step, since: float, snapshots: dict[str, dict[str, str]], origin: float) -> Outcome:
    """Poll until the expectation holds (within), then for ``hold`` more seconds; ``took`` counts from ``origin``
    (the last step that acted), so it is the convergence time."""
    a = step.args
    within, hold = min(float(a.get("within", 30)), 600), min(float(a.get("hold", 0)), 300)
    start, wrong = origin, ["not checked"]
    deadline = time.monotonic() + within
    took = None
    while time.monotonic() < deadline:
        wrong = lb.check(a, snapshots)
        if not wrong:
            took = lb.timeline.now() - start
            break
        time.sleep(0.2)
    held_until = time.monotonic() + hold
    while took is not None and not wrong and time.monotonic() < held_until:
        time.sleep(0.2)
        wrong = lb.check(a, snapshots)
        if wrong:
            wrong = [f"held for less than {hold:g}s: " + w for w in wrong]
    lb.sync()  # the poller's view includes the state the check saw
    changes = lb.timeline.changes(since)
    if not wrong and a.get("max_changes") is not None and changes > int(a["max_changes"]):
        wrong = [f"{changes} route changes on the core, at most {a['max_changes']} expected"]
    if not wrong and a.get("snapshot"):
        snapshots[str(a["snapshot"])] = lb.routes()
    name = str(a.get("name", f"line {step.line}"))
    return Outcome(name, step.line, not wrong, "; ".join(wrong[:5]), lb.timeline.now(), took, changes)


def run(scenario: Scenario, python: str = sys.executable) -> Result:
    topo: ClabTopology = load_topology(scenario.topology)
    outcomes: list[Outcome] = []
    with lab() as netns:
        d = deploy(netns, topo, python)
        with Lab(d) as lb:
            snapshots: dict[str, dict[str, str]] = {}
            since = origin = 0.0
            try:
                for step in scenario.steps:
                    if step.kind == "expect":
                        outcomes.append(expect(lb, step, since, snapshots, origin))
                        since = lb.sync()
                        lb.timeline.events.append(
                            (since, f"expect {outcomes[-1].name}: {'pass' if outcomes[-1].passed else 'FAIL'}")
                        )
                    else:
                        origin = lb.timeline.now()
                        lb.do(step)
            except Exception as exc:
                return Result(scenario, outcomes, lb.timeline, f"{type(exc).__name__}: {exc}")
            return Result(scenario, outcomes, lb.timeline)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.scenario", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run scenarios, each in a lab of its own")
    r.add_argument("scenarios", nargs="*", type=Path)
    r.add_argument("--all", action="store_true", help=f"every scenario in {SCENARIOS}")
    r.add_argument("--report", type=Path, help="write the HTML report (report.html and its pictures) here")
    c = sub.add_parser("check", help="parse scenarios and say what is wrong with them")
    c.add_argument("scenarios", nargs="+", type=Path)
    args = ap.parse_args(argv)
    paths = sorted(SCENARIOS.glob("*.yaml")) if getattr(args, "all", False) else list(args.scenarios)
    if not paths:
        ap.error("no scenario: name files or --all")
    try:
        scenarios = [parse(p) for p in paths]
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.cmd == "check":
        for s in scenarios:
            print(f"{s.path}: OK ({len(s.steps)} steps, topology {s.topology.name})")
        return 0
    results = []
    for s in scenarios:
        print(f"== {s.name}: {s.description}", flush=True)
        res = run(s)
        for o in res.outcomes:
            took = "never" if o.took is None else f"{o.took:.1f}s"
            verdict = "PASS" if o.passed else "FAIL"
            print(f"   {verdict}  {o.name:<28} held after {took:<7} {o.changes:>3} changes  {o.detail}")
        if res.error:
            print(f"   ERROR {res.error}")
        results.append(res)
    if args.report:
        from lab.report import write

        print(f"report: {write(results, args.report)}")
    failed = [r.scenario.name for r in results if not r.passed]
    print(
        f"{len(results) - len(failed)} of {len(results)} scenarios passed"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
