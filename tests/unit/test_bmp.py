"""The BMP station's decoding (bgpsteer/monitor/bmp/): framing, ExaBGP's parser on the UPDATEs inside, the table,
on a session captured from FRR 8.4 (bgpd -M bmp, post-policy monitoring and mirroring, the lab's core: its
initiation, peer up, initial table, End-of-RIB, then a next-hop route withdrawn); and on malformed input."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from pathlib import Path

import pytest

from bgpsteer.core.drift import CorePath
from bgpsteer.core.model import BmpStation
from bgpsteer.monitor.bmp import bgp, wire
from bgpsteer.monitor.bmp.station import Station
from bgpsteer.monitor.bmp.table import BmpTable

CAPTURE = (Path(__file__).parent / "data" / "frr-8.4-bmp-session.bin").read_bytes()


def messages() -> list[bytes]:
    out, used = wire.split(CAPTURE)
    assert used == len(CAPTURE)
    return out


def test_the_captured_session_frames_as_frr_sent_it() -> None:
    kinds = [wire.frame(m).name for m in messages()]
    assert kinds[:2] == ["initiation", "peer up"]
    assert kinds.count("route monitoring") == 10
    assert kinds.count("route mirroring") == 2
    up = wire.frame(messages()[1])
    assert up.peer is not None
    assert (up.peer.address, up.peer.asn, up.peer.post_policy) == ("10.250.0.1", 65000, False)
    p = wire.peer_up(up)
    assert (p.local_address, p.local_port) == ("10.250.0.2", 179)  # ExaBGP connected to the core
    assert len(p.sent_open) == len(p.received_open) == wire.BGP_HEADER  # FRR 8.4: empty OPENs in peer up


def test_the_table_is_whole_only_after_end_of_rib_and_follows_withdrawals() -> None:
    t = BmpTable()
    ms = messages()
    for m in ms[:4]:
        t.apply(m)
    assert t.waiting().startswith("BMP: the initial table of 10.250.0.1 is still coming")
    for m in ms[4:]:
        t.apply(m)
    assert t.waiting() == ""
    assert t.router == "core"
    table = dict(t.table())
    assert table["10.10.1.0/24"] == [CorePath("10.255.0.1", 200, best=False, valid=True)]
    assert table["10.10.0.0/16"] == [CorePath("10.255.0.2", 160, best=False, valid=True)]
    assert "10.255.0.2/32" not in table  # withdrawn at the end of the capture
    assert "10.255.0.1/32" in table
    assert (t.counters.malformed, t.counters.updates) == (0, 9)  # the pre-policy End-of-RIB is not read
    down = ms[1][:5] + bytes([wire.PEER_DOWN]) + ms[1][6 : wire.COMMON + wire.PER_PEER] + b"\x02\x00\x00"
    t.apply(struct.pack("!BIB", 3, len(down), wire.PEER_DOWN) + down[wire.COMMON :])
    assert t.table() == {}
    assert t.waiting() == "BMP: no peer of the core reported yet"


def test_exabgps_parser_reads_the_update_and_refuses_garbage() -> None:
    ms = [wire.frame(m) for m in messages()]
    first = next(f for f in ms if f.kind == wire.ROUTE_MONITORING)
    (update,) = wire.bgp_messages(first.body, "route monitoring")
    assert bgp.update(update) == bgp.Parsed([bgp.Route("10.10.0.0/16", "10.255.0.2", 160)], [])
    cut = update[:16] + struct.pack("!H", len(update) - 4) + update[18:-4]
    with pytest.raises(wire.BmpError, match="ExaBGP's parser refused the UPDATE"):
        bgp.update(cut)
    with pytest.raises(wire.BmpError, match="not an UPDATE"):
        bgp.update(update[:18] + b"\x04")


@pytest.mark.parametrize(
    ("raw", "fatal", "words"),
    [
        (b"\x02\x00\x00\x00\x06\x04", True, "BMP version 2, not 3"),
        (b"\x03\x00\x00\x00\x02\x04", True, "length 2 out of range"),
        (b"\x03\xff\xff\xff\xff\x04", True, "out of range"),
    ],
)
def test_a_header_that_cannot_be_bmp_is_fatal(raw: bytes, fatal: bool, words: str) -> None:
    with pytest.raises(wire.BmpError, match=words) as e:
        wire.split(raw)
    assert e.value.fatal is fatal


def test_malformed_messages_are_counted_and_skipped_and_the_table_goes_on() -> None:
    t = BmpTable()
    ms = messages()
    short_peer = struct.pack("!BIB", 3, 10, wire.ROUTE_MONITORING) + b"\x00" * 4
    rm = next(m for m in ms if wire.frame(m).kind == wire.ROUTE_MONITORING)
    broken_update = rm[: wire.COMMON + wire.PER_PEER] + b"\xff" * 16 + b"\x00\x30\x02" + b"\x00" * 8
    broken_update = struct.pack("!BIB", 3, len(broken_update), 0) + broken_update[wire.COMMON :]
    for m in [*ms[:3], short_peer, broken_update, *ms[3:]]:
        t.apply(m)
    assert t.counters.malformed == 2
    assert "shorter than its per-peer header" in t.last_error or "does not fit" in t.last_error
    assert t.waiting() == ""
    assert len(t.table()) == 6


async def connected(reports: list[tuple[bool, str]]) -> tuple[Station, asyncio.Future[None], int, asyncio.StreamWriter]:
    """A station on a free loopback port, each report noted (whole or not, why), and FRR's captured session sent
    to it by a new connection."""

    async def report(table: Mapping[str, list[CorePath]] | None, why: str) -> None:
        reports.append((table is not None, why))

    station = Station("core1", BmpStation("127.0.0.1", 0), 0.05, report)
    task = asyncio.ensure_future(station.run())
    while station._server is None:
        await asyncio.sleep(0.01)
    port = station._server.sockets[0].getsockname()[1]
    _, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(CAPTURE)
    await w.drain()
    return station, task, port, w


def test_the_station_over_tcp_survives_garbage_and_a_new_session_starts_afresh() -> None:
    """The station on loopback: FRR's captured session is read whole; a stream that stops being BMP ends that
    session (unreadable, never drift); the core's next session is read from the start."""

    async def main() -> list[tuple[bool, str]]:
        reports: list[tuple[bool, str]] = []
        station, task, port, w = await connected(reports)
        for _ in range(100):  # bounded: 5 s
            if station.table is not None and not station.table.waiting():
                break
            await asyncio.sleep(0.05)
        assert station.table is not None
        assert len(station.table.table()) == 6
        w.write(b"\x07garbage")  # not BMP: the session ends
        await w.drain()
        for _ in range(100):
            if station.table is None:
                break
            await asyncio.sleep(0.05)
        assert station.table is None
        await asyncio.sleep(0.1)
        _, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(CAPTURE[:200])  # a new session, its table not whole yet
        await w2.drain()
        await asyncio.sleep(0.2)
        task.cancel()
        await station.aclose()
        w.close()
        w2.close()
        return reports

    reports = asyncio.run(main())
    whole = [i for i, (ok, _) in enumerate(reports) if ok]
    assert whole, reports
    after = reports[whole[-1] + 1 :]
    assert any("not BMP any more: BMP version 7" in why for _, why in after), after
    assert not any(ok for ok, _ in after)  # the half-sent table of the new session never counts
    assert any("still coming" in why for _, why in after), after


def test_a_resync_keeps_the_last_whole_reading_until_the_new_table_is_whole() -> None:
    """The station ends the session itself (resync): no unreadable report meanwhile; the core's new session,
    once whole, is reported again."""

    async def main() -> tuple[list[tuple[bool, str]], bool, list[str]]:
        reports: list[tuple[bool, str]] = []
        station, task, port, w = await connected(reports)
        for _ in range(100):  # bounded: 5 s
            if reports and reports[-1][0]:
                break
            await asyncio.sleep(0.05)
        resynced = station.resync("a test")
        mark = len(reports)
        await asyncio.sleep(0.3)  # several intervals without a session
        whys = [station.closed_why]
        _, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(CAPTURE)
        await w2.drain()
        for _ in range(100):
            if len(reports) > mark and reports[-1][0]:
                break
            await asyncio.sleep(0.05)
        after = reports[mark:]
        w2.close()  # and then the core ends the new session itself
        for _ in range(100):
            if "ended" in station.closed_why:
                break
            await asyncio.sleep(0.05)
        whys.append(station.closed_why)
        task.cancel()
        await station.aclose()
        w.close()
        return after, resynced, whys

    after, resynced, whys = asyncio.run(main())
    assert whys[0] == "resynchronising (a test)"
    assert whys[1].startswith("the BMP session from "), whys
    assert "ended (closed by the core)" in whys[1], whys
    assert resynced
    assert after, "the new session's whole table was never reported"
    assert all(ok for ok, _ in after), after  # nothing unreadable while the station resynchronised


def test_a_peer_that_comes_up_during_the_session_counts_once_quiet_without_end_of_rib() -> None:
    """FRR sends End-of-RIB only after the dump of a peer up when the BMP session starts; a peer that comes up
    later (the core restarted) gets none: its table counts once nothing about it came for QUIET seconds."""
    from bgpsteer.monitor.bmp.table import QUIET

    t = BmpTable()
    ms = [m for m in messages() if not _is_end_of_rib(m)]
    for m in ms[:9]:
        t.apply(m, 100.0)
    assert "still coming" in t.waiting(100.0 + QUIET / 2)
    assert "still coming" in t.waiting()  # without a clock only End-of-RIB counts
    assert t.waiting(100.0 + QUIET) == ""


def _is_end_of_rib(m: bytes) -> bool:
    f = wire.frame(m)
    if f.kind != wire.ROUTE_MONITORING:
        return False
    return any(bgp.update(u).end_of_rib for u in wire.bgp_messages(f.body, "test"))


def test_a_session_from_an_address_not_allowed_is_refused_and_said() -> None:
    """Only the core may feed its station: another host can neither replace the core's session nor read as it."""

    async def main() -> tuple[list[tuple[bool, str]], int]:
        reports: list[tuple[bool, str]] = []

        async def report(table: Mapping[str, list[CorePath]] | None, why: str) -> None:
            reports.append((table is not None, why))

        station = Station("core1", BmpStation("127.0.0.1", 0), 0.05, report, frozenset({"192.0.2.1"}))
        task = asyncio.ensure_future(station.run())
        while station._server is None:
            await asyncio.sleep(0.01)
        _, w = await asyncio.open_connection("127.0.0.1", station._server.sockets[0].getsockname()[1])
        w.write(CAPTURE)
        await w.drain()
        await asyncio.sleep(0.3)
        task.cancel()
        await station.aclose()
        w.close()
        return reports, station.refused

    reports, refused = asyncio.run(main())
    assert refused == 1
    assert not any(ok for ok, _ in reports)
    assert reports[-1][1] == "no BMP session from the core yet; 1 session(s) refused from addresses not allowed"
