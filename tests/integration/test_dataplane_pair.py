"""A redundant pair in the data-plane lab (lab/dataplane.py, build(pair=True)): two route servers whose NH_E
routes both point at the real egress routers, so the core's FIB entry is the same whichever of them it learnt it
from.  Real packets from the site (voice through the realtime table, unclassified and EU-bound UDP through the
default one) count what a dead route server costs: not one packet while one whole route server is killed
(SIGKILL: ExaBGP and its helper), and not one while it comes back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lab.dataplane import DataPlane, build
from lab.netlab import lab, wait_for
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

UDP = ("voice", "other", "sovereign")
SECONDS, RATE = 8.0, 200.0


@pytest.fixture(scope="module")
def dp() -> Iterator[DataPlane]:
    with lab() as lb:
        d = build(lb, pair=True)
        wait_for("every kind of traffic routed via fra", lambda: all(d.core_egress(k) == "fra" for k in UDP), 60)
        wait_for("both route servers' paths on the core", lambda: both(d), 60)
        yield d


def both(d: DataPlane) -> bool:
    c = d.core_paths()
    return (
        c["bgpsteer_default"] == c["bgpsteer_default_b"] > 0 and c["bgpsteer_realtime"] == c["bgpsteer_realtime_b"] > 0
    )


def through(dp: DataPlane, action: Callable[[], None]) -> tuple[dict[str, Any], dict[str, dict[str, int]]]:
    """Every UDP kind for SECONDS at RATE packets/s with ``action`` 2.5 s in: what each receiver saw (with what its
    sender sent) and what each egress router forwarded per kind meanwhile."""
    before = dp.counters()
    run = dp.traffic(SECONDS, rate=RATE, kinds=UDP, flowing=True)  # returns once every stream flows
    time.sleep(2.5)  # stream before the action (not a wait for anything)
    action()
    got = run()
    after = dp.counters()
    for kind in UDP:
        lines = dp.lab.path(f"flow-{kind}-send.log").read_text().splitlines()
        got[kind]["sent"] = json.loads(lines[-1])["sent"]
    return got, {e: {k: after[e][k] - before[e][k] for k in UDP} for e in after}


def assert_no_loss(got: dict[str, Any], forwarded: dict[str, dict[str, int]]) -> None:
    print(json.dumps(got))
    for kind in UDP:
        flow = got[kind]
        assert flow["sent"] > SECONDS * RATE * 0.5, flow  # the sender ran (a loaded machine sends a little less)
        assert flow["lost"] == 0, (kind, flow)
        assert flow["received"] == flow["sent"], (kind, flow)  # none lost after the last one either
        assert forwarded["lon"][kind] == 0, (kind, forwarded)  # every packet through fra, as before


def test_killing_one_route_server_loses_no_packet(dp: DataPlane) -> None:
    def kill() -> None:
        dp.kill("rs")
        wait_for(  # within the stream: rsb's paths alone carry it from here (no graceful restart in this pair)
            "the core without rs's paths",
            lambda: dp.core_paths()["bgpsteer_default"] == dp.core_paths()["bgpsteer_realtime"] == 0,
            timeout=4,
            interval=0.1,
        )

    got, forwarded = through(dp, kill)
    assert_no_loss(got, forwarded)
    assert dp.core_egress("voice") == "fra"
    assert dp.core_paths()["bgpsteer_default_b"] > 0


def test_its_return_loses_no_packet_and_changes_nothing(dp: DataPlane) -> None:
    got, forwarded = through(dp, lambda: dp.start("rs"))
    assert_no_loss(got, forwarded)
    wait_for("both route servers' paths on the core again", lambda: both(dp), 90)
    assert all(dp.core_egress(k) == "fra" for k in UDP)


def test_the_same_kill_without_the_partner_does_lose_packets(dp: DataPlane) -> None:
    """The control: with rsb already dead, killing rs loses the traffic (the measure above can fail)."""
    dp.kill("rsb")
    try:
        got, _ = through(dp, lambda: dp.kill("rs"))
        print(json.dumps(got))
        for kind in UDP:
            assert got[kind]["received"] < got[kind]["sent"], (kind, got[kind])
    finally:
        dp.start("rs")
        dp.start("rsb")
    wait_for("both route servers' paths on the core again", lambda: both(dp), 90)
