"""The closed loop with a BIRD core and no BMP (BIRD 2.0 in Debian has none): ``monitor: {cli: bird}`` reads
``birdc -r show route all table master4`` in the core's namespace (the data-plane lab's BIRD core, bgpsteer's
ADD-PATH session).  As intended, it verifies clean; the core's own import filter then sets LOCAL_PREF 7 on
10.10.0.0/16 and rejects fra's next-hop route: both are found, and end when the filter is restored."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.dataplane import DATAPLANE_CONFIG, DataPlane, build
from lab.netlab import lab, wait_for
from lab.textedit import named, yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

PREFIX = "10.10.0.0/16"  # via fra (local-pref 200) and lon
FOUND_WITHIN = 45.0  # ends the test; found in interval 1 s + window 2 s and a reading's slack when idle (printed)


@pytest.fixture(scope="module")
def dp() -> Iterator[DataPlane]:
    with lab() as lb:
        sock = lb.path("bird-core") / "bird.ctl"  # where the lab's core BIRD will put it (netlab.start_bird)

        def monitored(d: dict[str, Any]) -> None:
            command = ["birdc", "-s", str(sock), "-r", "show", "route", "all", "table", "master4"]
            core = named(d["core_routers"], "core1", key="name")
            core["monitor"] = {"cli": "bird", "command": command, "netns": lb.ns("core"), "interval": 1, "window": 2}

        d = build(lb, config_text=yaml_edited(DATAPLANE_CONFIG.read_text(), monitored))
        wait_for("traffic via fra", lambda: d.core_egress("other") == "fra", 60)
        yield d


def verify(d: DataPlane) -> tuple[int, list[dict[str, Any]]]:
    p = d.cli("verify", "--json")
    return p.returncode, [x for c in json.loads(p.stdout)["cores"] for x in c["drift"]] if p.stdout else []


def test_a_bird_core_as_intended_verifies_and_its_own_filter_is_found(dp: DataPlane) -> None:
    wait_for("a clean verify", lambda: verify(dp)[0] == 0, timeout=60)
    assert "core1 (cli): uses fra (local-pref 200), as intended" in dp.cli("explain", PREFIX).stdout
    original = dp.core.conf.read_text()
    at = original.index("{", original.index("filter bgpsteer_import4")) + 1
    dp.core.reconfigure(
        original[:at]
        + f"\n  if net = 10.255.0.1/32 then reject;\n  if net = {PREFIX} then bgp_local_pref = 7;\n"
        + original[at:]
    )
    t0 = time.monotonic()
    try:
        wanted = {(PREFIX, "local-pref"), (PREFIX, "unresolved")}
        wait_for("drift", lambda: wanted <= {(x["prefix"], x["kind"]) for x in verify(dp)[1]}, timeout=FOUND_WITHIN)
        print(f"a BIRD core's filter found as drift after {time.monotonic() - t0:.1f}s (cli: bird)")
        code, found = verify(dp)
        assert code == 1
        words = {x["detail"] for x in found if x["prefix"] == PREFIX}
        assert "the core holds the path via fra with LOCAL_PREF 7, not 200 (a policy on the core)" in words
        assert any("via fra is not valid on the core: its next-hop 10.255.0.1 does not resolve" in w for w in words)
        assert "core1 (cli): NOT as intended: " in dp.cli("explain", PREFIX).stdout
    finally:
        dp.core.reconfigure(original)
    wait_for("drift ended", lambda: verify(dp)[0] == 0, timeout=FOUND_WITHIN)
    print(f"and ended {time.monotonic() - t0:.1f}s after the injection")
