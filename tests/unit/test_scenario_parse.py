"""Scenario files (lab/scenarios/*.yaml) parse; a bad one gets every problem at once, each with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scenario import SCENARIOS, parse
from lab.scenario_lab import ScenarioError, Timeline

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


def test_there_are_scenarios() -> None:
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_parses(path: Path) -> None:
    s = parse(path)
    assert s.topology.exists()
    assert any(step.kind == "expect" for step in s.steps)
    assert all("__line__" not in str(step.args) for step in s.steps)  # line numbers never leak into the steps


def test_a_bad_scenario_gets_every_problem_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\n"
        "steps:\n"
        "  - blackhole: {}\n"  # line 3: egress missing
        "  - explode: {egress: fra}\n"  # line 4: unknown step
        "  - expect: {routes: {10.0.0.0/33: fra}, soon: 1}\n"  # line 5: bad prefix, unknown key
        "  - expect: {answers: {tgw: {10.1.2.300: fra}}}\n"  # line 6: not an address
        "  - expect: {answers: {tgw: fra}}\n"  # line 7: not {node: {address: egress}}
    )
    with pytest.raises(ScenarioError) as err:
        parse(bad)
    text = str(err.value)
    for needle in (
        f"{bad}:3: blackhole.egress: required",
        f"{bad}:4: explode: unknown step",
        f"{bad}:5: expect.soon: unknown key",
        f"{bad}:5: expect: ",
        f"{bad}:6: expect.answers: '10.1.2.300' is not an IPv4 address",
        f"{bad}:7: expect.answers: {{gateway node: {{address: egress",
    ):
        assert needle in text, text


def test_route_changes_count_moves_after_the_baseline_only() -> None:
    t = Timeline()
    t.routes = [(0.0, {}), (1.0, {"p": "a"}), (2.0, {"p": "a"}), (3.0, {"p": "b"}), (4.0, {"p": "none"})]
    assert t.changes(since=1.0) == 2  # a -> b, b -> none; the arrival before the baseline is not counted
    assert t.changes(since=0.0) == 3
    assert t.changes(since=4.0) == 0


def test_a_glitch_without_a_best_path_between_two_egresses_is_one_move() -> None:
    t = Timeline()
    t.routes = [(0.0, {"p": "a"}), (1.0, {"p": "none"}), (1.2, {"p": "b"}), (3.0, {"p": "none"}), (5.0, {"p": "b"})]
    assert t.changes(since=0.5) == 3  # a -> b (the 0.2 s gap is a glitch); b -> none for 2 s and back are real
