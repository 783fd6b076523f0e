"""BIRD 2's ``show route all`` as the core's table (bgpsteer/monitor/bird.py), read from real BIRD 2.0.12 output
captured in the data-plane lab (a BIRD core with bgpsteer's ADD-PATH session): as intended, and after the core's
import filter rejected fra's next-hop route and set LOCAL_PREF 7 on 10.10.0.0/16.  What is not that shape is a
ReadError naming the line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.drift import CorePath
from bgpsteer.core.model import CLI_COMMANDS, CoreMonitor, CoreRouter
from bgpsteer.monitor import bird
from bgpsteer.monitor.errors import ReadError
from bgpsteer.monitor.runner import read
from tests.unit.helpers import ACCEPT_ALL, BASE

DATA = Path(__file__).parent / "data"


def test_birds_table_is_read_path_by_path_bgp_paths_only() -> None:
    got = bird.parse((DATA / "bird-2.0.12-show-route-all.txt").read_bytes())
    assert got == {  # the direct routes of the capture (lab_direct) are not a route server's: left out
        "10.255.0.2/32": [CorePath("10.252.2.2", 100, True, True)],
        "10.10.8.0/24": [CorePath("10.255.0.1", 200, True, True)],
        "10.255.0.1/32": [CorePath("10.252.1.2", 100, True, True)],
        "10.10.0.0/16": [CorePath("10.255.0.1", 200, True, True), CorePath("10.255.0.2", 160, False, True)],
    }


def test_an_unresolved_next_hop_is_an_invalid_path_and_a_core_policy_shows_in_local_pref() -> None:
    got = bird.parse((DATA / "bird-2.0.12-show-route-all-drift.txt").read_bytes())
    assert "10.255.0.1/32" not in got  # the core's filter rejected fra's next-hop route
    assert got["10.10.8.0/24"] == [CorePath("10.255.0.1", 200, True, False)]  # its only path: used, unreachable
    assert got["10.10.0.0/16"] == [CorePath("10.255.0.2", 7, True, True), CorePath("10.255.0.1", 7, False, False)]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("BIRD 2.0.12 ready.\nTable master4:\nTable bgpsteer_realtime4:\n", "line 3: a second table"),
        ("BIRD 2.0.12 ready.\nTable master4:\nsomething else\n", "line 3: not a route"),
        ("Table master4:\n\tType: BGP univ\n", "line 2: an attribute before any route"),
        ("Table master4:\n     unicast [bgp1 12:00:00.000 from 10.0.0.1] * (100) [i]\n", "without a prefix"),
        (
            "Table master4:\n10.1.0.0/16   unicast [bgp1 12:00:00.000 from 10.0.0.1] * (100) [i]\n"
            "\tType: BGP univ\n\tBGP.local_pref: high\n",
            "'high' is not a number",
        ),
        ("10.1.0.0/16   unicast [bgp1 12:00:00.000 from 10.0.0.1] * (100) [i]\n\tType: BGP univ\n", "no 'Table'"),
    ],
)
def test_what_is_not_birds_table_is_a_read_error(text: str, words: str) -> None:
    with pytest.raises(ReadError, match=words):
        bird.parse(text.encode())


def test_an_empty_table_is_empty_and_restricted_mode_says_so_first() -> None:
    assert bird.parse(b"BIRD 2.0.12 ready.\nTable master4:\n") == {}
    assert bird.parse(b"BIRD 2.0.12 ready.\nAccess restricted\nTable master4:\n") == {}


def test_the_reader_uses_birds_parser_for_cli_bird() -> None:
    printed = CoreRouter(
        "core1",
        "10.250.0.2",
        65000,
        monitor=CoreMonitor(
            "bird", (sys.executable, "-c", f"print(open({str(DATA / 'bird-2.0.12-show-route-all.txt')!r}).read())")
        ),
    )
    assert sorted(asyncio.run(read(printed))) == ["10.10.0.0/16", "10.10.8.0/24", "10.255.0.1/32", "10.255.0.2/32"]


def test_cli_bird_reads_one_table_through_birdc_by_default_and_other_formats_are_refused() -> None:
    core = "{name: core1, address: 10.0.0.2, asn: 65000, families: [ipv4, ipv6]}"
    monitored = BASE.replace(core, core[:-1] + ", monitor: {cli: bird}}")
    cfg = parse(monitored + ACCEPT_ALL, "test.yaml")
    assert cfg.core_routers[0].monitor is not None
    assert cfg.core_routers[0].monitor.command == CLI_COMMANDS["bird"]
    assert CLI_COMMANDS["bird"][:2] == ("birdc", "-r")  # restricted: the agent can only read
    with pytest.raises(ConfigError, match=r"monitor\.cli: 'junos' is not one of: frr, bird"):
        parse(BASE.replace(core, core[:-1] + ", monitor: {cli: junos}}") + ACCEPT_ALL, "test.yaml")
