"""The shipped Prometheus rules (deploy/prometheus/): valid for promtool, their unit tests pass, and every
bgpsteer metric they use is one the agent exports.  promtool comes with Debian's prometheus package
(.ci/install); without it this fails in CI (BGPSTEER_REQUIRE_DAEMONS=1) and is skipped elsewhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.metric_names import exported_names

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        why = "promtool missing (Debian package prometheus; run .ci/install)"
        if os.environ.get("BGPSTEER_REQUIRE_DAEMONS") == "1":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return path


def test_promtool_checks_the_rules_and_their_unit_tests_pass() -> None:
    tool = promtool()
    check = subprocess.run([tool, "check", "rules", "bgpsteer.rules.yml"], cwd=RULES, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 21 rules found" in check.stdout
    test = subprocess.run(
        [tool, "test", "rules", "bgpsteer.rules.test.yml"], cwd=RULES, capture_output=True, text=True, timeout=120
    )
    assert test.returncode == 0, test.stdout + test.stderr


def test_every_alert_is_unit_tested_and_every_metric_exists() -> None:
    rules = yaml.safe_load((RULES / "bgpsteer.rules.yml").read_text())
    tests = yaml.safe_load((RULES / "bgpsteer.rules.test.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tested = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", []) if a.get("exp_alerts")}
    assert alerts == tested, f"alerts without a firing test: {sorted(alerts - tested)}"
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    used = {name for e in exprs for name in re.findall(r"\bbgpsteer_[a-z0-9_]+", e)}
    exported = exported_names()
    assert used <= exported, f"rules use unknown metrics: {sorted(used - exported)}"
    assert len(alerts) >= 10
