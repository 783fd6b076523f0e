"""Reading a core router's table (bgpsteer/monitor/): FRR's JSON shape, and every way a reading can fail is a
reason, never an exception out of the reader."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from bgpsteer.core.drift import CorePath
from bgpsteer.core.model import CoreMonitor, CoreRouter
from bgpsteer.monitor import frr
from bgpsteer.monitor.errors import ReadError
from bgpsteer.monitor.runner import read

TABLE = {
    "vrfId": 0,
    "routes": {
        "10.10.0.0/16": [
            {
                "valid": True,
                "bestpath": True,
                "locPrf": 200,
                "peerId": "10.250.0.1",
                "nexthops": [{"ip": "10.255.0.1"}],
            },
            {"valid": True, "locPrf": 100, "peerId": "10.250.0.1", "nexthops": [{"ip": "10.255.0.2"}], "stale": True},
        ]
    },
}


def core(*command: str) -> CoreRouter:
    return CoreRouter("core1", "10.250.0.2", 65000, monitor=CoreMonitor("frr", command))


def test_frrs_table_is_read_path_by_path() -> None:
    got = frr.parse(json.dumps(TABLE).encode())
    assert got == {
        "10.10.0.0/16": [CorePath("10.255.0.1", 200, True, True), CorePath("10.255.0.2", 100, False, True, stale=True)]
    }


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not json", "not JSON"),
        (b"[]", "no 'routes'"),
        (b'{"routes": {"p": 1}}', "not a list"),
        (b'{"routes": {"p": [1]}}', "not an object"),
    ],
)
def test_what_is_not_frrs_table_is_a_read_error(data: bytes, words: str) -> None:
    with pytest.raises(ReadError, match=words):
        frr.parse(data)


def test_the_command_is_run_and_its_failures_are_reasons() -> None:
    printed = core(sys.executable, "-c", f"print({json.dumps(json.dumps(TABLE))})")
    assert list(asyncio.run(read(printed))) == ["10.10.0.0/16"]
    with pytest.raises(ReadError, match="boom"):  # its stderr is the reason
        asyncio.run(read(core(sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)")))
    with pytest.raises(ReadError, match="cannot run"):
        asyncio.run(read(core("/nonexistent/vtysh")))
