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
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bgpsteer.core.prefix import parse_prefix
from lab.clab import ClabTopology, deploy
from lab.clab import load as load_topology
from lab.netlab import lab
from lab.scenario_lab import Lab, ScenarioError, Step
from lab.scenario_result import Outcome as Outcome
from lab.scenario_result import Result as Result
from lab.scenario_result import Scenario as Scenario

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
    "traffic": {"from", "to", "seconds", "rate"},
}
EXPECT_KEYS = {
    "name",
    "within",
    "hold",
    "routes",
    "avoid",
    "absent",
    "present",
    "forwarded",
    "never_forwarded",
    "same_as",
    "snapshot",
    "max_changes",
    "compliance",
    "in_service",
    "answers",
}


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
    answers = args.get("answers") or {}
    if not isinstance(answers, dict) or not all(isinstance(v, dict) for v in answers.values()):
        errors.append(f"{path}:{line}: {kind}.answers: {{gateway node: {{address: egress, [egresses] or none}}}}")
    else:
        for wants in answers.values():
            for address in wants:
                try:
                    parse_prefix(f"{address}/32")
                except ValueError as exc:
                    errors.append(f"{path}:{line}: {kind}.answers: {address!r} is not an IPv4 address ({exc})")
    return Step(str(kind), args, int(line))


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
