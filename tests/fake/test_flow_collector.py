"""The flow collector on loopback (no root), fed softflowd's real datagrams (tests/data/flows/) over UDP: volumes per
RIB prefix, unknown once the exporter is silent, unlisted exporters and floods dropped and counted, the loop kept."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from bgpsteer.core.model import FlowExporter, Flows
from bgpsteer.flows.collector import FlowCollector
from bgpsteer.noc.metrics import _State

DATA = Path(__file__).resolve().parent.parent / "data" / "flows"
RIB = ["10.20.0.0/16", "10.20.200.0/24", "fd20::/48", "10.99.0.0/16"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(
    datagrams: list[bytes], window: float = 1.0, source: str = "127.0.0.1", max_datagrams: int = 2000, wait: float = 1.5
) -> tuple[list[dict[str, float] | None], FlowCollector]:
    reports: list[dict[str, float] | None] = []
    port = free_port()
    c = FlowCollector(reports.append, lambda: RIB)
    c.start(Flows("127.0.0.1", (FlowExporter("127.0.0.1"),), port, window, 0.2, max_datagrams))
    await asyncio.sleep(0.3)  # bound, and the matcher built
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.bind((source, 0))
        for d in datagrams:
            tx.sendto(d, ("127.0.0.1", port))
    await asyncio.sleep(wait)
    await c.aclose()
    return reports, c


def capture(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((DATA / name).glob("*.bin"))]


def test_volumes_per_longest_prefix_from_real_softflowd_datagrams_then_unknown_when_silent() -> None:
    reports, c = asyncio.run(run(capture("v9-s4"), window=1.0, wait=1.8))
    known = [r for r in reports if r]
    assert known, reports
    first = known[0]
    assert set(first) == {"10.20.0.0/16", "10.20.200.0/24", "fd20::/48"}  # longest match: .200.3 in the /24
    # 1-in-4 sampling applied: softflowd counted about a quarter of 800 x 1,028 bytes; over a 1 s window
    assert 0.5 * 800 * 1028 * 8 / 1e6 < first["10.20.200.0/24"] <= 1.3 * 800 * 1028 * 8 / 1e6
    assert reports[-1] is None  # no datagram for longer than the window: unknown, never zero
    e = c.state.exporters["127.0.0.1"]
    assert (e.datagrams, e.sampling) == (1, 4)


def test_datagrams_from_an_unlisted_exporter_are_dropped_and_counted() -> None:
    reports, c = asyncio.run(run(capture("v9-s1"), source="127.0.0.2"))
    assert c.state.unlisted == 2
    assert not any(reports)


def test_a_flood_is_bounded_by_the_queue_and_read_in_slices_that_give_the_loop_back() -> None:
    one = capture("v10-s1")[0]

    async def main() -> tuple[float, FlowCollector, list[dict[str, float] | None]]:
        reports: list[dict[str, float] | None] = []
        c = FlowCollector(reports.append, lambda: RIB)
        c.start(Flows("127.0.0.1", (FlowExporter("127.0.0.1"),), free_port(), 5.0, 0.2, 2000))
        await asyncio.sleep(0.3)
        for _ in range(10_000):  # arrives faster than it is read: one burst within one turn of the loop
            c.received("127.0.0.1", 2055, one)
        worst, t = 0.0, time.monotonic()
        while c.queue and time.monotonic() - t < 30:  # bounded
            before = time.monotonic()
            await asyncio.sleep(0)
            worst = max(worst, time.monotonic() - before)
        await asyncio.sleep(0.5)
        await c.aclose()
        return worst, c, reports

    worst, c, reports = asyncio.run(main())
    e = c.state.exporters["127.0.0.1"]
    assert (e.datagrams, c.state.flooded) == (2000, 8000)  # the queue held 2,000: the rest counted, not kept
    assert e.flows == 2000 * 7
    assert c.state.unmatched_octets > 0  # the exporter's own address (10.254.0.1) is in no RIB prefix
    assert any(reports)
    # the reader gives the loop back every SLICE (20 ms) of decoding: what held it is one slice, not the burst
    print(f"flood: 2000 read, 8000 dropped at the queue; the loop was held at most {worst * 1000:.0f} ms at a time")


def test_every_datagram_of_a_socket_flood_is_read_or_counted_where_it_was_dropped() -> None:
    """Sent while the loop cannot read: the kernel's buffer fills (its drops counted by SO_RXQ_OVFL), the queue
    fills (counted), and what was read is decoded: the three add up to what was sent.  The metrics say the same."""
    one, sent = capture("v10-s1")[0], 20_000

    async def main() -> FlowCollector:
        c = FlowCollector(lambda _: None, lambda: RIB)
        port = free_port()
        c.start(Flows("127.0.0.1", (FlowExporter("127.0.0.1"),), port, 5.0, 0.2, 2000))
        await asyncio.sleep(0.3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for _ in range(sent):  # the loop is not given back meanwhile: all of it lands before any read
                tx.sendto(one, ("127.0.0.1", port))
        t = time.monotonic()
        while time.monotonic() - t < 20:  # bounded: until every datagram is accounted for
            await asyncio.sleep(0.1)
            e = c.state.exporters["127.0.0.1"]
            if not c.queue and e.datagrams + c.state.flooded + c.state.socket_dropped == sent:
                break
        await c.aclose()
        return c

    c = asyncio.run(main())
    e = c.state.exporters["127.0.0.1"]
    assert c.state.socket_dropped > 0  # 20,000 datagrams do not fit the socket's buffer
    assert e.datagrams + c.state.flooded + c.state.socket_dropped == sent
    families = {f.name: f for f in _State._flows(c.state, time.monotonic())}
    dropped = {
        s.labels["reason"]: s.value for s in families["bgpsteer_flow_dropped"].samples if s.name.endswith("_total")
    }
    assert dropped["socket_full"] == c.state.socket_dropped
    assert dropped["queue_full"] == c.state.flooded
    datagrams = [s.value for s in families["bgpsteer_flow_datagrams"].samples if s.name.endswith("_total")]
    assert datagrams == [e.datagrams]
