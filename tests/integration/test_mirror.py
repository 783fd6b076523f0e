"""Your own policy in a lab (lab/mirror.py) on real daemons: policies/example.yaml mirrored and its generated
scenarios run by the one command (exit 0, a report); a config whose peers share no subnet with the route server
(point-to-point addresses on the links) comes up and fails over too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.mirror import generate
from lab.scenario import parse, run
from lab.textedit import named, yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_policy_in_its_own_lab(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "lab.mirror", "policies/example.yaml", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    print(p.stdout[-3000:])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "3 of 3 scenarios passed" in p.stdout
    assert "egresses.fra.probe: icmp to its emulated gateway 10.250.1.2" in p.stdout  # what the copy changed
    assert (tmp_path / "report" / "report.html").exists()


def test_peers_without_a_common_subnet(tmp_path: Path) -> None:
    text = (ROOT / "lab" / "lab.yaml").read_text()
    text = yaml_edited(
        text,
        lambda doc: named(doc["cloud_peers"], "aws-tgw-fra", "name").update(
            address="169.254.10.2", local_address="100.64.1.1"
        ),
    )
    (tmp_path / "in.yaml").write_text(text)
    generate(tmp_path / "in.yaml", tmp_path / "out")
    result = run(parse(tmp_path / "out" / "scenarios" / "blackhole-fra.yaml"))
    failed = [f"{o.name}: {o.detail}" for o in result.outcomes if not o.passed]
    assert result.error is None, result.error
    assert not failed, failed
