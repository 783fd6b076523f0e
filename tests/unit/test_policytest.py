"""`bgpsteer test`: policy tests as data, run on the pure core."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner

from bgpsteer.cli import main
from bgpsteer.config.loader import parse
from lab.textedit import named, yaml_edited

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "example.yaml"
TESTS = ROOT / "policies" / "example.tests.yaml"


def run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, ["test", *args])
    return r.exit_code, r.output


def test_the_shipped_tests_pass_and_reach_every_statement(tmp_path: Path) -> None:
    code, out = run(str(POLICY), str(TESTS), "--junit", str(tmp_path / "j.xml"))
    assert code == 0, out
    assert "10 passed, 0 failed" in out
    assert "statement coverage: 6 of 6 (100%)" in out
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert (suite.tag, suite.get("tests"), suite.get("failures")) == ("testsuite", "10", "0")


def test_a_policy_change_makes_its_cases_fail_with_the_trace(tmp_path: Path) -> None:
    changed = tmp_path / "policy.yaml"
    # the cost statements swapped: fra becomes the cheaper one
    changed.write_text(
        yaml_edited(
            POLICY.read_text(),
            lambda doc: named(doc["policy"]["import"]["statements"], "cost-ams-cheaper", "name")["set"].update(
                local_pref=140
            ),
        )
    )
    code, out = run(str(changed), str(TESTS), "--junit", str(tmp_path / "j.xml"))
    assert code == 1
    assert "FAIL anything else goes to the cheaper egress (ams), fra stays as backup" in out
    assert "egress: expected ams, the core uses fra" in out
    assert "ranking: expected ['ams', 'fra'], got ['fra', 'ams']" in out
    assert "FAIL the cheaper egress's own preference and MED" in out
    assert "local_pref: expected 160, got 140" in out
    assert "import statement 'cost-ams-cheaper' matched: local-pref 140, med 10; accept" in out  # the trace
    failures = [tc for tc in ET.parse(tmp_path / "j.xml").getroot() if tc.find("failure") is not None]
    assert len(failures) == 2


def test_coverage_names_what_no_case_reached(tmp_path: Path) -> None:
    only = tmp_path / "t.yaml"
    only.write_text(
        "cases:\n  - name: one\n    route: {peer: aws-tgw-fra, prefix: 10.10.1.0/24}\n    expect: {accepted: true}\n"
    )
    code, out = run(str(POLICY), str(only))
    assert code == 0
    assert (
        "import statements no case reached: honour-graceful-shutdown, gcp-direct-via-ams, cost-ams-cheaper, cost-fra"
        in out
    )
    assert "statement coverage: 2 of 6 (33%)" in out


def test_every_error_in_the_test_file_at_once(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text(
        "cases:\n"
        "  - name: a\n"
        "    route: {peer: nobody, prefix: 10.0.0.0/33}\n"
        "    egresses: {fra: sideways}\n"
        "    expect: {egress: mars, colour: blue}\n"
        "  - name: a\n"
        "    route: {peer: aws-tgw-fra, prefix: 10.10.1.0/24}\n"
        "    expect: {}\n"
    )
    code, out = run(str(POLICY), str(bad))
    assert code == 2
    for want in (
        f"{bad}:3:",
        "cases[0].route.peer",
        "cases[0].route.prefix",
        f"{bad}:4:",
        "cases[0].egresses.fra",
        "cases[0].expect.egress",
        "cases[0].expect.colour: unknown key",
        "duplicate case name 'a'",
        "expect at least one outcome",
    ):
        assert want in out, (want, out)


def test_cases_see_the_whole_decision_not_one_filter() -> None:
    from bgpsteer.policytest.cases import Case, Route
    from bgpsteer.policytest.runner import run_case

    cfg = parse(POLICY.read_text(), str(POLICY))
    both = Case(
        "x",
        1,
        Route("aws-tgw-fra", "10.10.1.0/24"),
        (Route("gcp-cr-ams", "10.10.1.0/24"),),
        {"fra": "down", "ams": "down"},
        None,
        {"egress": "ams"},
    )
    r = run_case(cfg, both)
    # fra fails first (ams takes over), then ams: two of two down is fail static, which keeps the last good set (ams)
    assert r.ok, r.failures
