from __future__ import annotations

import ipaddress
import math

import pytest
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
    assert (w.slices, w.totals) == ({109: {"10.10.8.0/24": 125_000}}, {"10.10.8.0/24": 125_000})


def test_no_record_within_the_window_is_unknown_not_zero() -> None:
    w = VolumeWindow(window=5)
    assert w.rates(0.0) is None  # nothing ever came
    w.add("10.10.0.0/16", 1000, 10.0)
    assert w.rates(14.0) is not None
    assert w.rates(16.0) is None  # the exporter stopped


@given(
    st.lists(
        st.tuples(st.sampled_from(["10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24"]), st.integers(1, 10**6)),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.floats(0.0, 3.0), min_size=1, max_size=60),
)
def test_the_running_totals_equal_a_sum_over_the_window(adds: list[tuple[str, int]], gaps: list[float]) -> None:
    w, now, seen = VolumeWindow(window=5), 100.0, []
    for (prefix, octets), gap in zip(adds, gaps * len(adds), strict=False):
        now += gap
        w.add(prefix, octets, now)
        seen.append((prefix, octets, int(now)))
        got = w.rates(now) or {}
        want: dict[str, int] = {}
        start = math.floor(now - 5)  # the second the window starts in: its slice is kept
        for p, o, second in seen:
            if second >= start:
                want[p] = want.get(p, 0) + o
        assert got.keys() == want.keys()
        assert all(abs(got[p] - want[p] * 8 / (now - start) / 1e6) < 1e-9 for p in want)


def test_a_record_counts_until_it_is_window_seconds_old_whatever_the_second_it_fell_in() -> None:
    w = VolumeWindow(window=1)
    w.add("10.10.0.0/16", 1000, 100.9)
    assert w.rates(101.5) == pytest.approx(
        {"10.10.0.0/16": 1000 * 8 / 1.5 / 1e6}
    )  # 0.6 s old: in, over the 1.5 s its slice spans
    w.add("10.10.0.0/16", 500, 101.2)
    assert w.rates(101.8) == pytest.approx(
        {"10.10.0.0/16": 1500 * 8 / 1.8 / 1e6}
    )  # 0.9 s old: still in, slice 100 kept
    assert w.rates(102.1) == pytest.approx({"10.10.0.0/16": 500 * 8 / 1.1 / 1e6})  # 1.2 s old: out with slice 100
    assert w.rates(102.3) is None  # nothing within the window: unknown
