"""The return path on real daemons (lab/returnlab.py): an FRR playing an AWS Transit Gateway, reached through two
egresses, answers the site through the egress its prefixes leave by; when that egress's tunnel blackholes (BGP
stays up) it moves to the other by the halves; it comes back after the hold-down; nothing more than the limit."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from bgpsteer.config.loader import load
from lab.netlab import lab, wait_for
from lab.returnlab import INSIDE, SITE, ReturnLab, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

FRA, AMS = INSIDE["fra"][0], INSIDE["ams"][0]  # our addresses on the two tunnels: the TGW's peers


@pytest.fixture(scope="module")
def rl() -> Iterator[ReturnLab]:
    with lab() as lb:
        r = build(lb)
        wait_for("the site at the TGW over both tunnels", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
        yield r


def ctl(r: ReturnLab, *args: str) -> subprocess.CompletedProcess[str]:
    socket = load(r.config).agent.socket_path
    return subprocess.run(
        [sys.executable, "-m", "bgpsteer", *args, "--socket", socket],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_tgw_picks_by_awss_order_and_answers_through_the_outbound_egress(rl: ReturnLab) -> None:
    for prefix in SITE:
        held = rl.tgw_paths(prefix)
        assert held == {FRA: {"med": 100, "as_path": 1}, AMS: {"med": 200, "as_path": 1}}, prefix
        assert rl.tgw_best(prefix) == [FRA], prefix  # equal AS paths: the lower MED (AWS's order), i.e. fra
    status = json.loads(ctl(rl, "status", "--json").stdout)
    rows = {r["peer"]: r for r in status["return_path"]}
    assert rows["tgw-fra"]["answers_through"] == "fra"
    assert (rows["tgw-fra"]["routes"], rows["tgw-fra"]["limit"]) == (2, 100)


def test_a_blackholed_tunnel_moves_the_replies_by_the_halves_and_they_come_back(rl: ReturnLab) -> None:
    rl.blackhole("fra", True)  # probes dropped on fra's tunnel; its BGP session stays up
    try:
        wait_for("the halves at the TGW via ams", lambda: rl.tgw_best("10.100.0.0/17") == [AMS], timeout=30)
        assert rl.tgw.established("169.254.10.1")  # the session via fra never went down
        for prefix in SITE:
            assert rl.tgw_best(prefix) == [AMS], prefix  # the withdrawal over fra arrived here (the session is up)
        # a longest-prefix match now lands on ams whatever the fra session still holds
        assert all(rl.tgw_best(h) == [AMS] for h in ("10.100.0.0/17", "10.100.128.0/17", "10.101.128.0/17"))
        explained = ctl(rl, "explain", "10.100.200.1").stdout
        assert "answers through ams" in explained
    finally:
        rl.blackhole("fra", False)
    # back after fra's hold-down (3 s): preferred again, the halves withdrawn
    wait_for("fra preferred again", lambda: rl.tgw_best("10.100.0.0/16") == [FRA], timeout=30)
    wait_for("the halves withdrawn", lambda: rl.tgw_paths("10.100.0.0/17") == {}, timeout=30)


def test_a_tunnel_cut_with_bgp_still_up_moves_the_replies_by_the_halves_alone(rl: ReturnLab) -> None:
    """Everything from us dropped on fra's tunnel: the TGW never hears the withdrawal (its session via fra stays
    up until its hold timer), yet its longest match for the site moves to ams: the halves over the live session."""
    rl.blackhole("fra", True, everything=True)
    try:
        wait_for("replies via ams", lambda: rl.answers_via("10.100.200.1") == [AMS], timeout=20)
        assert rl.tgw.established("169.254.10.1")  # the dead session still looks up at the TGW
        assert FRA in {p["peerId"] for p in rl.tgw.routes()["10.100.0.0/16"]}  # its stale /16 is still held there
        assert rl.answers_via("10.101.0.1") == [AMS]
    finally:
        rl.blackhole("fra", False)
    wait_for("fra preferred again", lambda: rl.answers_via("10.100.200.1") == [FRA], timeout=60)
