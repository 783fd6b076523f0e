"""Restart or upgrade the route server without losing a packet (graceful restart, End-of-RIB sent by bgpsteer).

A sequenced UDP stream (1,000 datagrams/s) flows from the FRR core through the route server to a
cloud prefix while ExaBGP (and with it bgpsteer) is stopped with SIGTERM and started again. FRR 8.4
is a graceful-restart helper: it keeps forwarding on the stale paths until bgpsteer's End-of-RIB,
which comes only once the whole table is re-announced.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from lab.netlab import lab, wait_for
from lab.topology import Topology, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()


@pytest.fixture(scope="module")
def topo() -> Iterator[Topology]:
    with lab() as lb:
        t = build(lb)
        wait_for("steered routes on the core", lambda: len(t.steered()) == 5, timeout=60)
        t.data_plane()
        yield t


def table(t: Topology) -> dict[str, set[tuple[str, bool]]]:
    """prefix -> (next-hop, stale) of every path in FRR's BGP RIB, the egress next-hop routes included."""
    return {p: {(v["nexthops"][0]["ip"], bool(v.get("stale"))) for v in paths} for p, paths in t.core.routes().items()}


def test_exabgp_restart_loses_no_packet_and_leaves_the_core_as_it_was(topo: Topology) -> None:
    assert "graceful-restart 120;" in topo.lab.path("exabgp/exabgp.conf").read_text()
    before = table(topo)
    assert before
    assert not any(stale for paths in before.values() for _, stale in paths)
    result = topo.stream(seconds=14)  # returns once the stream flows
    time.sleep(3)  # three seconds of stream before the restart (not a wait for anything)
    old_pid = topo.helper_pid()
    topo.restart_exabgp()
    status = topo.wait_started(old_pid, timeout=60)
    assert status["runtime"]["eor_sent_to"] == ["10.250.0.2"]  # the core's stale paths end only with it
    summary = result()
    assert summary["received"] > 10_000, summary
    assert summary["lost"] == 0, summary
    wait_for("the core's table as before, nothing stale", lambda: table(topo) == before, timeout=30)


def test_a_helper_killed_under_a_live_exabgp_loses_no_packet_and_changes_nothing(topo: Topology) -> None:
    """The other restart: only bgpsteer dies (a crash, an OOM kill; ExaBGP starts it again and keeps its sessions and
    its adj-RIB-out).  The core never notices: no datagram lost, the same table, nothing stale."""
    before = table(topo)
    result = topo.stream(seconds=10)  # returns once the stream flows
    time.sleep(3)  # three seconds of stream before the kill (not a wait for anything)
    old_pid = topo.helper_pid()
    os.kill(old_pid, signal.SIGKILL)
    topo.wait_started(old_pid, timeout=60)
    summary = result()
    assert summary["received"] > 8_000, summary
    assert summary["lost"] == 0, summary
    assert table(topo) == before
