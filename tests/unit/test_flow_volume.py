from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from bgpsteer.core.flowvolume import PrefixMatch, VolumeWindow


def addr(a: str) -> tuple[int, bool]:
    ip = ipaddress.ip_address(a)
    return int(ip), ip.version == 6


def test_longest_match_wins_and_families_stay_apart() -> None:
    m = PrefixMatch(["10.10.0.0/16", "10.10.8.0/24", "0.0.0.0/0", "fd20::/48"])
    assert m.lookup(*addr("10.10.8.9")) == "10.10.8.0/24"
    assert m.lookup(*addr("10.10.9.9")) == "10.10.0.0/16"
    assert m.lookup(*addr("192.0.2.1")) == "0.0.0.0/0"
    assert m.lookup(*addr("fd20::1")) == "fd20::/48"
    assert m.lookup(*addr("fd21::1")) is None


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_the_match_is_the_longest_prefix_that_holds_the_address(nets: list[tuple[int, int]], a: int) -> None:
    prefixes = {str(ipaddress.ip_network((n >> (32 - ln) << (32 - ln), ln))) for n, ln in nets}
    holding = [p for p in prefixes if ipaddress.ip_address(a) in ipaddress.ip_network(p)]
    want = max(holding, key=lambda p: ipaddress.ip_network(p).prefixlen) if holding else None
    assert PrefixMatch(prefixes).lookup(a, False) == want


def test_octets_in_the_window_become_mbit_per_second_and_older_ones_leave() -> None:
    w = VolumeWindow(window=10)
    w.add("10.10.0.0/16", 1_250_000, 100.0)  # 10 Mbit over 10 s: 1 Mbit/s
    w.add(None, 99, 100.0)
    assert w.rates(105.0) == {"10.10.0.0/16": 1.0}
    assert w.unmatched == 99
    w.add("10.10.8.0/24", 125_000, 109.5)
    assert w.rates(111.0) == {"10.10.8.0/24": 0.1}  # the first second left the window
    assert w.buckets == {"10.10.8.0/24": {109: 125_000}}


def test_no_record_within_the_window_is_unknown_not_zero() -> None:
    w = VolumeWindow(window=5)
    assert w.rates(0.0) is None  # nothing ever came
    w.add("10.10.0.0/16", 1000, 10.0)
    assert w.rates(14.0) is not None
    assert w.rates(16.0) is None  # the exporter stopped
