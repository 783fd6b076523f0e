"""Every shipped scenario (lab/scenarios/*.yaml) passes on the containerlab topology run by the netns runner, with
real FRR, BIRD and ExaBGP; the report they write is self-contained; a scenario whose expectation is wrong makes
`python -m lab.scenario run` exit 1 (CI can rely on it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.clab import deploy
from lab.clab import load as load_topology
from lab.netlab import lab, sh
from lab.scenario import DEFAULT_TOPOLOGY, SCENARIOS, Result, parse, run
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

RESULTS: list[Result] = []


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_scenario_passes(path: Path) -> None:
    result = run(parse(path))
    RESULTS.append(result)
    failed = [f"{o.name} (line {o.line}): {o.detail}" for o in result.outcomes if not o.passed]
    assert result.error is None, result.error
    assert not failed, failed
    assert result.timeline.routes  # the RIB was watched throughout


def test_the_report_is_self_contained(tmp_path: Path) -> None:
    from lab.report import write

    assert RESULTS, "the scenarios ran first"
    page = write(RESULTS, tmp_path).read_text()
    topologies = {r.scenario.topology for r in RESULTS}
    assert len(topologies) == 3  # the routing lab, the data-plane lab, the return-path lab
    assert page.count("data:image/png;base64,") == len(RESULTS) + len(topologies)  # each topology, each timeline
    assert 'src="http' not in page  # nothing fetched from elsewhere
    for r in RESULTS:
        assert (tmp_path / f"{r.scenario.name}.png").stat().st_size > 10_000
        assert f"<h2>{r.scenario.name} " in page
    assert page.count("<td class=pass>pass</td>") == sum(o.passed for r in RESULTS for o in r.outcomes)
    assert page.count("<td class=fail>FAIL</td>") == sum(not o.passed for r in RESULTS for o in r.outcomes)


def test_a_failed_expectation_fails_the_command(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        f"name: wrong\ntopology: {DEFAULT_TOPOLOGY}\n"
        "steps:\n  - expect: {name: initial, within: 60, routes: {10.20.0.0/16: ams}}\n"
        "  - expect: {name: impossible, within: 3, routes: {10.20.0.0/16: fra}}\n"
    )
    p = subprocess.run(
        [sys.executable, "-m", "lab.scenario", "run", str(wrong), "--report", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert p.returncode == 1, p.stdout + p.stderr
    assert "FAIL  impossible" in p.stdout
    assert "10.20.0.0/16: via ams, expected fra" in p.stdout
    assert "0 of 1 scenarios passed; failed: wrong" in p.stdout
    assert (tmp_path / "r" / "report.html").exists()


def test_the_runner_builds_what_the_file_says() -> None:
    """Deployed by the netns runner, every node of lab/bgpsteer.clab.yml is a namespace whose interfaces carry the
    names and addresses of the file's links, and every session is up."""
    topo = load_topology(DEFAULT_TOPOLOGY)
    with lab() as lb:
        d = deploy(lb, topo)
        have: dict[str, set[tuple[str, str]]] = {}
        for node in topo.nodes:
            out = sh("ip", "-o", "-4", "addr", "show", ns=lb.ns(node))
            have[node] = {(f.split()[1], f.split()[3]) for f in out.splitlines() if f.split()[1] != "lo"}
        want: dict[str, set[tuple[str, str]]] = {node: set() for node in topo.nodes}
        for link in topo.links:
            want[link.a.node].add((link.a.iface, link.ipv4[0]))
            want[link.b.node].add((link.b.iface, link.ipv4[1]))
        assert have == want
        assert d.core.established("10.250.0.1")
        assert set(d.bird) == {"aws", "gcp"}
