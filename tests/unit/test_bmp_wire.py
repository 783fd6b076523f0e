"""BMP's framing, field by field and at every boundary (bgpsteer/monitor/bmp/wire.py, table.py): messages built
here by hand from RFC 7854's layouts, each field a value no other field has, so a misread field shows."""

from __future__ import annotations

import ipaddress
import logging
import re
import struct

import pytest

from bgpsteer.monitor.bmp import wire
from bgpsteer.monitor.bmp.table import LOGGED, BmpTable

ASN = 4_200_000_123  # above 2**31: read as signed it would be negative


def bgp(kind: int, body: bytes = b"") -> bytes:
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), kind) + body


def peer_header(flags: int = 0, address: str = "192.0.2.9", peer_type: int = 1) -> bytes:
    ip = ipaddress.ip_address(address)
    raw = ip.packed if ip.version == 6 else bytes(12) + ip.packed
    return struct.pack(
        "!BB8s16sI4sII", peer_type, flags, bytes(range(1, 9)), raw, ASN, bytes([198, 51, 100, 7]), 11, 22
    )


def bmp(kind: int, body: bytes) -> bytes:
    return struct.pack("!BIB", 3, 6 + len(body), kind) + body


def test_the_per_peer_header_field_by_field_v4_and_v6() -> None:
    f = wire.frame(bmp(wire.ROUTE_MONITORING, peer_header(wire.FLAG_POST_POLICY) + b"xyz"))
    assert f.peer == wire.Peer(1, 0x40, bytes(range(1, 9)), "192.0.2.9", ASN, "198.51.100.7")
    assert (f.body, f.name, f.peer.post_policy, f.peer.key) == (
        b"xyz",
        "route monitoring",
        True,
        (1, f.peer.distinguisher, "192.0.2.9"),
    )
    v6 = wire.frame(bmp(wire.PEER_DOWN, peer_header(wire.FLAG_V6, "2001:db8::9")))
    assert v6.peer is not None
    assert (v6.peer.address, v6.peer.post_policy, v6.body) == ("2001:db8::9", False, b"")
    assert wire.frame(bmp(7, b"abc")) == wire.Frame(7, None, b"abc")  # an unknown type: no per-peer header read
    assert wire.frame(bmp(7, b"")).name == "type 7"
    assert wire.frame(bmp(wire.INITIATION, b"tlvs")).peer is None


def test_a_message_exactly_as_long_as_its_headers_is_whole_one_byte_less_is_not() -> None:
    assert wire.frame(bmp(wire.STATISTICS, peer_header())).body == b""
    with pytest.raises(wire.BmpError) as e:
        wire.frame(bmp(wire.STATISTICS, peer_header()[:-1]))
    assert str(e.value) == "statistics: 47 bytes, shorter than its per-peer header"
    assert not e.value.fatal


def test_split_takes_whole_messages_and_leaves_a_partial_one() -> None:
    a, b = bmp(wire.INITIATION, b""), bmp(wire.TERMINATION, b"\x00\x01")
    assert len(a) == wire.COMMON  # the shortest message there is
    assert wire.split(a + b + b[:3]) == ([a, b], len(a) + len(b))
    assert wire.split(a + b[:-1]) == ([a], len(a))
    assert wire.split(b"") == ([], 0)


@pytest.mark.parametrize(
    ("length", "words"),
    [
        (5, "BMP message length 5 out of range (6..1048576)"),
        (wire.MAX_MESSAGE + 1, "BMP message length 1048577 out of range"),
        (0x80000000, "BMP message length 2147483648 out of range"),
    ],
)
def test_split_refuses_a_length_out_of_range(length: int, words: str) -> None:
    with pytest.raises(wire.BmpError, match=re.escape(words)) as e:
        wire.split(struct.pack("!BIB", 3, length, 0))
    assert e.value.fatal


def test_the_longest_message_allowed_is_waited_for_not_refused() -> None:
    assert wire.split(struct.pack("!BIB", 3, wire.MAX_MESSAGE, 0)) == ([], 0)


def test_bgp_messages_end_to_end_and_their_limits() -> None:
    keepalive, update = bgp(4), bgp(2, b"\x00\x00\x00\x00")
    assert wire.bgp_messages(keepalive + update + keepalive, "x") == [keepalive, update, keepalive]
    with pytest.raises(wire.BmpError) as e:
        wire.bgp_messages(keepalive + keepalive[:18], "route monitoring")
    assert str(e.value) == "route monitoring: no BGP message header at byte 19"
    with pytest.raises(wire.BmpError, match="no BGP message header at byte 0"):
        wire.bgp_messages(b"\x00" * 19, "x")
    with pytest.raises(wire.BmpError) as e:
        wire.bgp_messages(b"\xff" * 16 + b"\xff\xff\x02", "x")
    assert str(e.value) == "x: BGP message length 65535 at byte 0 does not fit"
    with pytest.raises(wire.BmpError, match="length 18 at byte 0"):
        wire.bgp_messages(b"\xff" * 16 + b"\x00\x12\x02", "x")


def peer_up_body(sent: bytes, received: bytes, v6: bool = False) -> bytes:
    local = ipaddress.ip_address("2001:db8::1" if v6 else "10.9.8.7")
    raw = local.packed if v6 else bytes(12) + local.packed
    return raw + struct.pack("!HH", 179, 40001) + sent + received + b"\x00\x00\x00\x03abc"  # then an information TLV


def test_peer_up_reads_the_local_end_and_both_opens() -> None:
    sent, received = bgp(1, b"\x04\xfd\xe8"), bgp(1, b"\x04\x00\x01\x00\xb4")
    p = wire.peer_up(wire.frame(bmp(wire.PEER_UP, peer_header() + peer_up_body(sent, received))))
    assert p == wire.PeerUp("10.9.8.7", 179, 40001, sent, received)
    p6 = wire.peer_up(
        wire.frame(bmp(wire.PEER_UP, peer_header(wire.FLAG_V6, "2001:db8::9") + peer_up_body(sent, received, True)))
    )
    assert p6.local_address == "2001:db8::1"


def test_peer_up_refuses_what_is_not_two_opens() -> None:
    sent = bgp(1)
    short = wire.frame(bmp(wire.PEER_UP, peer_header() + bytes(20 + 2 * 19 - 1)))
    with pytest.raises(wire.BmpError) as e:
        wire.peer_up(short)
    assert str(e.value) == "peer up: 57 bytes, too short for two OPEN messages"
    not_open = wire.frame(bmp(wire.PEER_UP, peer_header() + peer_up_body(sent, bgp(4))))
    with pytest.raises(wire.BmpError) as e:
        wire.peer_up(not_open)
    assert str(e.value) == "peer up: the BGP message at byte 19 is not a whole OPEN"
    no_marker = wire.frame(bmp(wire.PEER_UP, peer_header() + peer_up_body(sent, b"\x00" * 19)))
    with pytest.raises(wire.BmpError) as e:
        wire.peer_up(no_marker)
    assert str(e.value) == "peer up: no BGP OPEN at byte 19"
    too_long = wire.frame(bmp(wire.PEER_UP, peer_header() + bytes(20) + b"\xff" * 16 + b"\x00\x40\x01" + bgp(1)))
    with pytest.raises(wire.BmpError, match="at byte 0 is not a whole OPEN"):
        wire.peer_up(too_long)


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value


def test_route_mirroring_gives_its_bgp_messages_and_says_when_messages_were_lost() -> None:
    update, keepalive = bgp(2, b"\x00\x00\x00\x00"), bgp(4)
    f = wire.frame(
        bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(1, b"\x00\x00") + tlv(0, update + keepalive) + tlv(0, keepalive))
    )
    assert wire.mirrored(f) == [update, keepalive, keepalive]
    assert not wire.mirror_lost(f)
    lost = wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(0, keepalive) + tlv(1, b"\x00\x01")))
    assert wire.mirror_lost(lost)
    assert wire.mirrored(lost) == [keepalive]
    for cut in (tlv(0, keepalive)[:-1], b"\x00\x00\x00"):
        with pytest.raises(wire.BmpError, match="route mirroring: "):
            wire.mirrored(wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + cut)))
    assert not wire.mirror_lost(wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(1, b"\x00\x01\x00"))))


def test_the_table_counts_what_it_reads_and_skips() -> None:
    t = BmpTable()
    t.apply(bmp(wire.INITIATION, tlv(wire.INFO_STRING, b"hello") + tlv(wire.SYS_NAME, b"core7")))
    t.apply(bmp(wire.STATISTICS, peer_header()))
    t.apply(bmp(wire.TERMINATION, b""))
    t.apply(bmp(wire.ROUTE_MONITORING, peer_header(0) + bgp(2, b"\x00\x00\x00\x00")))  # pre-policy: not read
    assert t.router == "core7"
    assert (t.counters.messages, t.counters.ignored, t.counters.updates, t.counters.malformed) == (4, 3, 0, 0)
    t.apply(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(1, b"\x00\x01")))
    assert (t.counters.mirror_lost, t.counters.ignored) == (1, 3)


def test_a_peer_going_down_takes_only_its_own_paths() -> None:
    t = BmpTable()
    attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x00" + b"\x40\x03\x04\x0a\xff\x00\x01"  # origin, AS path, next-hop
    update = struct.pack("!HH", 0, len(attrs)) + attrs + b"\x10\x0a\x0a"  # 10.10.0.0/16
    for peer in ("192.0.2.1", "192.0.2.2"):
        h = peer_header(wire.FLAG_POST_POLICY, peer)
        t.apply(bmp(wire.PEER_UP, peer_header(0, peer) + peer_up_body(bgp(1), bgp(1))))
        t.apply(bmp(wire.ROUTE_MONITORING, h + bgp(2, update)))
    assert [len(p) for p in t.table().values()] == [2]
    t.apply(bmp(wire.PEER_DOWN, peer_header(0, "192.0.2.1") + b"\x02"))
    assert [len(p) for p in t.table().values()] == [1]
    assert list(t.paths) == [(1, bytes(range(1, 9)), "192.0.2.2")]


def test_malformed_messages_are_logged_one_by_one_then_every_thousandth(caplog: pytest.LogCaptureFixture) -> None:
    t = BmpTable()
    bad = bmp(wire.ROUTE_MONITORING, b"short")
    with caplog.at_level(logging.WARNING, logger="bgpsteer.monitor"):
        for _ in range(1000):
            t.apply(bad)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == LOGGED + 1
    assert (
        lines[0]
        == "BMP: skipped a malformed message (1 so far): route monitoring: 11 bytes, shorter than its per-peer header"
    )
    assert lines[-1].startswith("BMP: skipped a malformed message (1000 so far)")
    assert (t.counters.malformed, t.counters.messages) == (1000, 1000)


def test_the_routers_name_is_its_sys_name_tlv_wherever_it_is() -> None:
    t = BmpTable()
    t.apply(bmp(wire.INITIATION, tlv(wire.INFO_STRING, b"x" * 300)))  # no sysName: the name stays unknown
    assert t.router == ""
    t.apply(bmp(wire.INITIATION, tlv(wire.INFO_STRING, b"x" * 300) + tlv(wire.SYS_DESCR, b"d") + tlv(2, b"core\xff")))
    assert t.router == "core\ufffd"  # not UTF-8: replaced, never an error


def test_mirroring_tlvs_past_32_kib_and_the_words_of_a_cut_one() -> None:
    keepalives = bgp(4) * 1725  # 32,775 bytes: a length that does not fit a signed 16-bit field
    f = wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(0, keepalives) + tlv(1, b"\x00\x01")))
    assert len(wire.mirrored(f)) == 1725
    assert wire.mirror_lost(f)
    with pytest.raises(wire.BmpError) as e:
        wire.mirrored(wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + b"\x00\x00\x00")))
    assert str(e.value) == "route mirroring: a TLV header cut short"
    with pytest.raises(wire.BmpError) as e:
        wire.mirrored(wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(0, b"\x00" * 19))))
    assert str(e.value) == "route mirroring: no BGP message header at byte 0"
    empty_then_lost = tlv(0, b"") + tlv(1, b"\x00\x00") + tlv(1, b"\x00\x01")
    assert wire.mirror_lost(wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + empty_then_lost)))
    assert wire.mirrored(wire.frame(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(0, b"")))) == []


def test_the_table_counts_lost_mirroring_only_and_names_a_bad_update() -> None:
    t = BmpTable()
    t.apply(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(1, b"\x00\x01")))
    t.apply(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(1, b"\x00\x01")))
    t.apply(bmp(wire.ROUTE_MIRRORING, peer_header() + tlv(1, b"\x00\x00")))
    assert (t.counters.mirror_lost, t.counters.ignored) == (2, 1)
    t.apply(bmp(wire.ROUTE_MONITORING, peer_header(wire.FLAG_POST_POLICY) + b"\x00" * 19))
    assert t.last_error == "route monitoring: no BGP message header at byte 0"


def test_a_peer_up_again_starts_its_table_afresh_and_waiting_names_every_peer_behind() -> None:
    t = BmpTable()
    attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x00" + b"\x40\x03\x04\x0a\xff\x00\x01"
    update = bgp(2, struct.pack("!HH", 0, len(attrs)) + attrs + b"\x10\x0a\x0a")
    eor = bgp(2, b"\x00\x00\x00\x00")
    for peer in ("192.0.2.2", "192.0.2.1"):
        t.apply(bmp(wire.PEER_UP, peer_header(0, peer) + peer_up_body(bgp(1), bgp(1))), 5.0)
        t.apply(bmp(wire.ROUTE_MONITORING, peer_header(wire.FLAG_POST_POLICY, peer) + update), 5.0)
    assert t.waiting(6.0) == "BMP: the initial table of 192.0.2.1, 192.0.2.2 is still coming (2 paths so far)"
    for peer in ("192.0.2.2", "192.0.2.1"):
        t.apply(bmp(wire.ROUTE_MONITORING, peer_header(wire.FLAG_POST_POLICY, peer) + eor), 6.0)
    assert t.waiting(6.0) == ""
    t.apply(bmp(wire.PEER_UP, peer_header(0, "192.0.2.1") + peer_up_body(bgp(1), bgp(1))), 7.0)
    assert [len(p) for p in t.table().values()] == [1]  # its old path gone with its old session
    assert t.waiting(7.0).startswith("BMP: the initial table of 192.0.2.1 is still coming")
    withdraw = bgp(2, b"\x00\x03\x10\x0a\x0a\x00\x00")
    t.apply(bmp(wire.ROUTE_MONITORING, peer_header(wire.FLAG_POST_POLICY, "192.0.2.2") + withdraw), 8.0)
    t.apply(bmp(wire.ROUTE_MONITORING, peer_header(wire.FLAG_POST_POLICY, "192.0.2.2") + withdraw), 8.0)  # twice
    assert dict(t.table()) == {}
