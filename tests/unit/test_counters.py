"""Interface counters as rates (core/counters.py), stale rates in relief (core/relief.py), and the config of
``egresses[].utilization``: every way a counter can lie gives no rate, and an old rate is unknown, never zero."""

from __future__ import annotations

import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.counters import CounterRate, Reading
from bgpsteer.core.view import CoreView
from tests.unit.helpers import ACCEPT_ALL, BASE
from tests.unit.test_relief import VOLUMES, engine, primary


def test_a_rate_needs_two_readings_and_is_mbit_per_second() -> None:
    c = CounterRate()
    assert c.update(Reading(1_000, 0.0, "ifindex 4")) == (None, "first reading: a rate needs two")
    assert c.update(Reading(1_000 + 1_250_000, 10.0, "ifindex 4")) == (1.0, "")  # 10 Mbit in 10 s


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (Reading(10, 10.0, "ifindex 4"), "went backwards (5000000 -> 10): reset or cleared"),
        (Reading(9_000_000, 10.0, "ifindex 7"), "another instance now (ifindex 4 -> ifindex 7): a reset"),
        (Reading(9_000_000, 10.0, "ifindex 4", uptime=3.0), "uptime went back (500s -> 3s): it restarted"),
    ],
)
def test_a_counter_reset_gives_no_rate_and_becomes_the_new_base(second: Reading, why: str) -> None:
    c = CounterRate()
    c.update(Reading(5_000_000, 0.0, "ifindex 4", uptime=500.0))
    mbps, said = c.update(second)
    assert (mbps, c.resets) == (None, 1)
    assert why in said
    third = Reading(second.octets + 125_000, 20.0, second.instance, None if second.uptime is None else 13.0)
    mbps, said = c.update(third)
    assert (round(mbps or 0.0, 6), said) == (0.1, "")  # from the new base on


def test_readings_too_close_keep_the_older_base() -> None:
    c = CounterRate()
    c.update(Reading(0, 0.0))
    assert c.update(Reading(100, 0.01))[0] is None
    assert c.update(Reading(1_250_000, 1.0)) == (10.0, "")  # from the reading at 0.0, not 0.01


def test_a_stale_counter_rate_is_unknown_never_zero_and_moves_nothing() -> None:
    eng = engine()
    eng.report_load({"fra": 950.0}, VOLUMES, 0.0, "counter", 15.0)
    eng.report_load({"lon": 100.0, "ams": 0.0}, {}, 0.0, "counter", 100.0)
    assert [(x.egress, x.load_pct, x.source) for x in CoreView(eng).load(20.0) if x.egress == "fra"] == [
        ("fra", None, "counter")
    ]
    assert eng.tick(20.0) == []  # overloaded for the hold (10 s) on a number that was stale by then: no move
    assert primary(eng, "10.20.1.0/24") == "fra"
    eng.report_load({"fra": 950.0}, {}, 30.0, "counter", 15.0)  # fresh again: the hold starts anew
    eng.tick(39.0)
    assert primary(eng, "10.20.1.0/24") == "fra"
    eng.tick(40.0)
    assert primary(eng, "10.10.8.0/24") == "ams"


def test_an_egress_whose_load_is_unknown_takes_no_prefix() -> None:
    eng = engine()
    eng.report_load({"fra": 950.0, "lon": 100.0}, VOLUMES, 0.0)  # ams never reported: not a target
    eng.tick(10.0)
    assert primary(eng, "10.10.8.0/24") == "fra"  # EU-bound: only ams could take it, and its load is unknown
    assert primary(eng, "10.20.1.0/24") == "lon"


def test_utilization_config_is_checked_in_words_all_at_once() -> None:
    fra = "next_hop: 10.255.0.1"
    good = BASE.replace(fra, fra + ", capacity_mbps: 100, utilization: {type: netlink, device: efra5, netns: core}")
    e = parse(good + ACCEPT_ALL, "t.yaml").egresses[0]
    assert e.utilization is not None
    assert (e.utilization.kind, e.utilization.direction, e.utilization.max_age) == ("netlink", "out", 15.0)
    bad = BASE.replace(fra, fra + ", utilization: {type: snmp, host: nowhere, netns: x, interval: 10, stale_after: 5}")
    with pytest.raises(ConfigError) as err:
        parse(bad + ACCEPT_ALL, "t.yaml")
    text = str(err.value)
    for words in (
        "utilization.netns: 'netns' has no meaning for utilization of type snmp",
        "utilization.host:",
        "needs the interface: 'device' (its ifName) or 'if_index'",
        "stale_after 5 is shorter than interval 10",
        "utilization is read against capacity_mbps",
    ):
        assert words in text, text
