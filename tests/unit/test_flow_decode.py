"""The NetFlow v9 / IPFIX decoder against what Debian's softflowd 1.1.0 really sent (tests/data/flows/: captured by
``python -m lab.flowexport --out tests/data/flows``: 800 UDP datagrams of 1,000 bytes to each of five addresses,
unsampled and 1-in-4 sampled, as v9 and as IPFIX)."""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpsteer.flows.decode import Decoder, Flow

DATA = Path(__file__).resolve().parent.parent / "data" / "flows"
SENT = {"10.20.1.1", "10.20.2.2", "10.20.200.3", "fd20::5", "fd20::1:0:0:6"}
WIRE = {4: 800 * 1028, 6: 800 * 1048}  # 1,000 bytes of payload, UDP and IP headers: what the packets carried


def datagrams(capture: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((DATA / capture).glob("*.bin"))]


def decode(capture: str, d: Decoder | None = None) -> tuple[dict[str, int], Decoder]:
    d = d or Decoder()
    out: dict[str, int] = {}
    for data in datagrams(capture):
        for f in d.feed("127.0.0.1", 2055, data, 0.0):
            a = str(ipaddress.IPv6Address(f.dst) if f.v6 else ipaddress.IPv4Address(f.dst))
            out[a] = out.get(a, 0) + f.octets
    return out, d


def test_every_capture_gives_the_destinations_that_were_sent_with_their_octets() -> None:
    for capture in ("v9-s1", "v10-s1", "v9-s4", "v10-s4"):
        got, d = decode(capture)
        assert set(got) >= SENT, (capture, got)
        assert d.stats.malformed == 0
        assert d.stats.held == 0
        for a in SENT:
            wire = WIRE[ipaddress.ip_address(a).version]
            # libpcap on the exporter drops some packets in a burst (softflowd counts them); never more than sent
            assert wire * 0.5 < got[a] <= wire * (1.3 if capture.endswith("s4") else 1), (capture, a, got[a])


def test_the_sampling_rate_comes_from_the_exporters_options_v9_interval_and_ipfix_interval_and_space() -> None:
    assert list(decode("v9-s4")[1].sampling.values()) == [4]  # SAMPLING_INTERVAL 4
    assert list(decode("v10-s4")[1].sampling.values()) == [4]  # samplingPacketInterval 1, samplingPacketSpace 3
    assert list(decode("v9-s1")[1].sampling.values()) == [1]


def test_unsampled_octets_are_what_the_exporter_counted_and_sampled_ones_four_times_it() -> None:
    d = Decoder()
    raw = datagrams("v10-s4")[0]
    scaled = d.feed("127.0.0.1", 2055, raw, 0.0)
    d.sampling.clear()
    d.default_sampling["127.0.0.1"] = 1
    # the same datagram again, its options record now ignored: what softflowd itself counted
    counted = [Flow(f.dst, f.v6, f.octets) for f in d.feed("127.0.0.1", 2055, strip_options(raw), 0.0)]
    assert [f.octets for f in scaled] == [4 * f.octets for f in counted]


def strip_options(ipfix: bytes) -> bytes:
    """The datagram without its options template and options data (set 3 and the sets it describes)."""
    body, off, keep = ipfix[16:], 0, b""
    while off + 4 <= len(body):
        set_id, length = struct.unpack_from("!HH", body, off)
        if set_id not in (3, 256):
            keep += body[off : off + length]
        off += length
    return ipfix[:2] + struct.pack("!H", 16 + len(keep)) + ipfix[4:16] + keep


def test_data_before_its_template_is_held_and_decoded_when_the_template_comes() -> None:
    first, second = datagrams("v9-s1")  # 000: templates and data; 001: data only
    d = Decoder()
    assert d.feed("127.0.0.1", 2055, second, 0.0) == []
    assert d.stats.held > 0
    late = d.feed("127.0.0.1", 2055, first, 1.0)
    assert d.stats.late == d.stats.held
    both, _ = decode("v9-s1")
    got: dict[str, int] = {}
    for f in late:
        a = str(ipaddress.IPv6Address(f.dst) if f.v6 else ipaddress.IPv4Address(f.dst))
        got[a] = got.get(a, 0) + f.octets
    assert got == both


def test_held_data_is_bounded_in_count_and_age() -> None:
    data_only = datagrams("v9-s1")[1]
    d = Decoder(max_held=3, hold_seconds=10)
    for i in range(10):
        d.feed("127.0.0.1", 2055, data_only, float(i))
    assert len(d.held) == 3
    d.feed("127.0.0.1", 2055, b"\x00\x09", 100.0)  # anything: the old data is gone
    assert len(d.held) == 0
    assert d.stats.expired == d.stats.held


def test_templates_are_per_exporter_so_a_sampled_and_an_unsampled_exporter_mix() -> None:
    d = Decoder()
    sampled = d.feed("10.0.0.1", 2055, datagrams("v9-s4")[0], 0.0)
    plain = [f for data in datagrams("v9-s1") for f in d.feed("10.0.0.2", 2055, data, 0.0)]
    assert d.rate(("10.0.0.1", 2055, 0)) == 4
    assert d.rate(("10.0.0.2", 2055, 0)) == 1
    assert sum(f.octets for f in sampled) > 0
    assert sum(f.octets for f in plain) > 0
    # data from a third exporter that sent no template is held, not decoded with another exporter's template
    assert d.feed("10.0.0.3", 2055, datagrams("v9-s1")[1], 0.0) == []


def test_a_configured_rate_applies_to_an_exporter_that_sends_none() -> None:
    raw = strip_options(datagrams("v10-s1")[0])
    d = Decoder()
    d.default_sampling["127.0.0.1"] = 100
    plain = Decoder()
    assert [f.octets for f in d.feed("127.0.0.1", 2055, raw, 0.0)] == [
        100 * f.octets for f in plain.feed("127.0.0.1", 2055, raw, 0.0)
    ]


def test_template_ids_are_bounded() -> None:
    d = Decoder(max_templates=2)
    for port in range(5):
        d.feed("127.0.0.1", port, datagrams("v9-s1")[0], 0.0)
    assert len(d.templates) == 2
    assert d.stats.malformed > 0


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["v9-s1", "v10-s1", "v9-s4", "v10-s4"]), st.data())
def test_a_truncated_or_corrupted_datagram_never_raises(capture: str, data: st.DataObject) -> None:
    raw = bytearray(datagrams(capture)[0])
    cut = data.draw(st.integers(0, len(raw)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), max_size=8))
    for i, v in flips:
        raw[i] = v
    d = Decoder()
    d.feed("127.0.0.1", 2055, bytes(raw[:cut]), 0.0)  # must not raise
    d.feed("127.0.0.1", 2055, bytes(raw), 1.0)


def test_other_versions_and_noise_are_counted_not_read() -> None:
    d = Decoder()
    assert d.feed("127.0.0.1", 2055, b"\x00\x05" + b"\x00" * 30, 0.0) == []  # NetFlow v5
    assert d.feed("127.0.0.1", 2055, b"", 0.0) == []
    assert d.stats.malformed == 2
    assert d.stats.versions == {5: 1}
