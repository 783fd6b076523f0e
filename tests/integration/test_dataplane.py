"""Application classes proven with real packets (lab/dataplane.py).

A site sends voice (DSCP EF to an RTP port), a bulk TCP transfer, unclassified UDP and UDP to an EU-bound prefix;
the core classifies with exactly what `bgpsteer core-config` renders; each egress router counts what it forwards.
The tests read those counters (deltas over a few seconds of traffic), and check that `explain --class` and
`simulate` say what the packets then do.  The sovereignty counter at the foreign egress is checked across every
state the module goes through.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from lab.dataplane import DataPlane, build
from lab.netlab import lab, wait_for
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

KINDS = ("voice", "bulk", "other", "sovereign")


@pytest.fixture(scope="module")
def dp() -> Iterator[DataPlane]:
    with lab() as lb:
        d = build(lb)
        wait_for("every kind of traffic routed via fra", lambda: all(d.core_egress(k) == "fra" for k in KINDS), 60)
        yield d
        # sovereignty over the whole run: not one packet to the EU-bound prefix ever left through lon (UK)
        assert d.counters()["lon"]["sovereign"] == 0


def measure(dp: DataPlane, seconds: float = 3.0) -> dict[str, dict[str, int]]:
    """Packets each egress forwarded per kind while every kind of traffic ran for ``seconds``."""
    before = dp.counters()
    received = dp.traffic(seconds)()
    after = dp.counters()
    assert received["voice"]["received"] > 0 or after != before, received
    return {e: {k: after[e][k] - before[e][k] for k in KINDS} for e in after}


def carried(delta: dict[str, dict[str, int]], kind: str) -> set[str]:
    return {e for e, kinds in delta.items() if kinds[kind] > 0}


def test_each_class_leaves_where_bgpsteer_says(dp: DataPlane) -> None:
    assert dp.cli_json("explain", "10.10.0.0/16", "--class", "realtime")["primary"] == "fra"
    assert dp.cli_json("explain", "10.10.0.0/16")["primary"] == "fra"
    delta = measure(dp)
    assert {k: carried(delta, k) for k in KINDS} == {k: {"fra"} for k in KINDS}, delta


def test_a_degraded_egress_moves_voice_and_keeps_bulk(dp: DataPlane) -> None:
    sim = dp.cli_json("simulate", "--degrade", "fra:latency=60ms")
    assert sim["moved"] == []  # the default table (bulk, unclassified) stays
    predicted = {m["prefix"]: m["to"] for m in sim["classes"]["realtime"]["moved"]}
    assert predicted == {"10.10.0.0/16": "lon"}
    dp.degrade("fra", delay_ms=60, jitter_ms=2)  # over realtime's 40 ms, well inside bulk's 300 ms
    try:
        wait_for("voice routed via lon", lambda: dp.core_egress("voice") == "lon", 60)
        assert dp.cli_json("explain", "10.10.0.0/16", "--class", "realtime")["primary"] == predicted["10.10.0.0/16"]
        delta = measure(dp)
        assert carried(delta, "voice") == {"lon"}, delta
        assert carried(delta, "bulk") == {"fra"}, delta
        assert carried(delta, "other") == {"fra"}, delta
        assert carried(delta, "sovereign") == {"fra"}, delta  # EU-bound: only fra, whatever the class
    finally:
        dp.degrade("fra")
    wait_for("voice back on fra", lambda: dp.core_egress("voice") == "fra", 90)


def test_a_failed_egress_moves_every_class_and_never_the_eu_bound_prefix(dp: DataPlane) -> None:
    sim = dp.cli_json("simulate", "--fail", "fra")
    assert {m["prefix"]: m["to"] for m in sim["moved"]} == {"10.10.0.0/16": "lon"}
    assert [w["prefix"] for w in sim["withdrawn"]] == ["10.10.8.0/24"]  # no compliant egress left
    dp.fail("fra")
    try:
        wait_for("traffic routed via lon", lambda: dp.core_egress("bulk") == "lon", 60)
        wait_for("voice routed via lon", lambda: dp.core_egress("voice") == "lon", 30)
        delta = measure(dp)
        for kind in ("voice", "bulk", "other"):
            assert carried(delta, kind) == {"lon"}, (kind, delta)
        assert delta["lon"]["sovereign"] == 0, delta
        assert dp.core_egress("sovereign") is None  # no path at all: dropped at the core, never sent abroad
    finally:
        dp.fail("fra", on=False)
    wait_for("everything back on fra", lambda: all(dp.core_egress(k) == "fra" for k in KINDS), 90)


def test_the_stream_resumes_after_a_failover(dp: DataPlane) -> None:
    """Packets lost while the core fails over (the number is the bench's: bench/failover_loss.py); here only that
    the voice stream flows again through the other egress before it ends."""
    run = dp.traffic(12.0, rate=200.0, flowing=True)  # returns once every stream flows
    time.sleep(3)  # three seconds of stream before the failure (not a wait for anything)
    dp.fail("fra")
    try:
        got = run()
    finally:
        dp.fail("fra", on=False)
    voice = got["voice"]
    assert voice["highest"] >= 12 * 200 - 50, json.dumps(voice)  # the last packets arrived: it flows via lon
    assert voice["lost"] < voice["highest"], json.dumps(voice)
    wait_for("everything back on fra", lambda: all(dp.core_egress(k) == "fra" for k in KINDS), 90)
