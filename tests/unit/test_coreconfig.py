"""`bgpsteer core-config`: the core's classification rendered from the YAML, pinned by golden files.

Regenerate after an intended change: BGPSTEER_UPDATE_GOLDEN=1 pytest tests/unit/test_coreconfig.py (and read the
diff).  That the rendered nftables and BIRD files are accepted by nft and bird themselves is checked with the real
tools in tests/integration/test_coreconfig_parsers.py; that they steer real packets, in test_dataplane.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgpsteer.cli import main
from bgpsteer.config.loader import load
from bgpsteer.coreconfig import linux, vendors
from bgpsteer.coreconfig.plan import plan
from lab.textedit import replaced

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
INPUT = "tests/golden/classes.yaml"  # relative: the source named in the header stays the same on every machine


def rendered() -> dict[str, str]:
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        p = plan(load(INPUT))
    finally:
        os.chdir(cwd)
    files = {f"linux-{k}": v for k, v in linux.render(p).items()}
    files["cisco.conf"] = vendors.cisco(p)
    files["juniper.conf"] = vendors.juniper(p)
    return files


@pytest.mark.parametrize("name", sorted(rendered()))
def test_rendering_matches_the_golden_file(name: str) -> None:
    text = rendered()[name]
    golden = GOLDEN / name
    if os.environ.get("BGPSTEER_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert text == golden.read_text(), f"{name} changed: BGPSTEER_UPDATE_GOLDEN=1 to accept, then read the diff"


def test_the_plan_numbers_served_classes_and_names_the_others() -> None:
    p = plan(load(ROOT / INPUT))
    assert [(c.name, c.table, c.families) for c in p.classes] == [
        ("realtime", 101, ("ipv4", "ipv6")),
        ("eu-video", 102, ("ipv4",)),
        ("mgmt", 103, ("ipv4",)),
    ]
    assert p.unserved == ("bulk",)
    assert p.classes[1].symbol == "eu_video"
    assert p.classes[1].destinations("ipv4") == ("10.10.8.0/21",)
    assert p.classes[1].destinations("ipv6") == ("fd10:8::/32",)
    assert p.classes[2].matches_everything
    assert p.next_hops4 == ("10.255.0.1", "10.255.0.2")
    assert p.next_hops6 == ("fd00:255::1",)
    assert [c.table for c in plan(load(ROOT / INPUT), table_base=200).classes] == [201, 202, 203]


def test_the_cli_writes_the_files(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["core-config", str(ROOT / INPUT), "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bird-classes.conf", "classes.nft", "ip-rules.sh"]
    r = CliRunner().invoke(main, ["core-config", str(ROOT / INPUT), "--target", "juniper"])
    assert r.exit_code == 0
    assert "then routing-instance BGPSTEER-REALTIME;" in r.output


def test_a_bad_config_is_an_error_not_a_rendering(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(replaced((ROOT / INPUT).read_text(), ("prefixes: eu-data", "prefixes: nowhere")))
    r = CliRunner().invoke(main, ["core-config", str(bad)])
    assert r.exit_code == 2
    assert "undefined prefix set 'nowhere'" in r.output
