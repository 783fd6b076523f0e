"""Relief on real packets (lab/dataplane.py): an overloaded egress sheds its largest prefix to the next egress, the
core's FIB and the egress counters follow, the EU-bound prefix never goes abroad, and the prefix returns once the
load is gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab.dataplane import DATAPLANE_CONFIG, DataPlane, build, with_relief
from lab.netlab import lab, wait_for
from lab.textedit import yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()


@pytest.fixture(scope="module")
def dp() -> Iterator[DataPlane]:
    text = yaml_edited(DATAPLANE_CONFIG.read_text(), with_relief(1000))
    with lab() as lb:
        d = build(lb, config_text=text)
        wait_for("traffic via fra", lambda: d.core_egress("other") == "fra" and d.core_egress("sovereign") == "fra", 60)
        yield d


def delta(dp: DataPlane) -> dict[str, dict[str, int]]:
    before = dp.counters()
    dp.traffic(2.0)()
    after = dp.counters()
    return {e: {k: after[e][k] - before[e][k] for k in after[e]} for e in after}


def test_an_overloaded_egress_sheds_its_largest_prefix_and_takes_it_back(dp: DataPlane) -> None:
    volumes = ["--prefix", "10.10.0.0/16=300", "--prefix", "10.10.8.0/24=400"]
    p = dp.cli("load", "--egress", "fra=500", "--egress", "lon=100", *volumes)  # known volumes, no overload yet
    assert p.returncode == 0, p.stderr
    sim = dp.cli_json("simulate", "--load", "fra=900")
    assert [(m["prefix"], m["to"]) for m in sim["relief"]["moved"]] == [("10.10.0.0/16", "lon")]
    assert dp.core_egress("other") == "fra"  # a prediction moves nothing
    p = dp.cli("load", "--egress", "fra=900", "--egress", "lon=100")
    assert p.returncode == 0, p.stderr
    # after the hold: 10.10.8.0/24 is larger but EU-bound (lon is in the UK): 10.10.0.0/16 moves instead
    wait_for("10.10.0.0/16 via lon", lambda: dp.core_egress("other") == "lon", 30)
    x = dp.cli_json("explain", "10.10.0.0/16")
    assert x["relief"]["from"] == "fra"
    assert x["relief"]["to"] == "lon"
    assert x["primary"] == "lon"
    d = delta(dp)
    assert d["lon"]["other"] > 0
    assert d["fra"]["other"] == 0
    assert d["fra"]["sovereign"] > 0
    assert d["lon"]["sovereign"] == 0
    assert "relief: egress fra at 90%" in dp.agent_log()
    # the load is gone: 10.10.0.0/16 returns (after the hold)
    p = dp.cli("load", "--egress", "fra=200", "--egress", "lon=400")
    assert p.returncode == 0, p.stderr
    wait_for("10.10.0.0/16 back on fra", lambda: dp.core_egress("other") == "fra", 30)
    assert dp.cli_json("explain", "10.10.0.0/16")["relief"] is None
