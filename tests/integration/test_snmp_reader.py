"""The SNMP counter reader (bgpsteer/utilization/snmp.py) against Debian's snmpd on loopback: an interface found by
name, and a first read cancelled midway (the runner bounds every read by its interval; a loaded machine can take
longer than that to set pysnmp up) leaves a reader that still reads next time.  CI once read no SNMP rate for 30 s
under load: the cancelled read had left an engine without a transport, and every later read failed."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgpsteer.core.model import Utilization
from bgpsteer.utilization.errors import ReadError
from bgpsteer.utilization.snmp import SnmpReader
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("snmpd")

PORT = 16161  # loopback only, an unprivileged port of its own


@pytest.fixture(scope="module")
def snmpd() -> Iterator[None]:
    work = Path(tempfile.mkdtemp(prefix="bgpsteer-snmpd-"))
    conf = work / "snmpd.conf"
    conf.write_text(f"agentaddress udp:127.0.0.1:{PORT}\nrocommunity public 127.0.0.1\n")
    log = (work / "snmpd.log").open("wb")
    proc = subprocess.Popen(
        ["snmpd", "-f", "-Lo", "-C", "-c", str(conf), "-p", str(work / "snmpd.pid")], stdout=log, stderr=log
    )
    try:
        yield
    finally:
        proc.kill()
        proc.wait(10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def reader() -> SnmpReader:
    return SnmpReader(
        Utilization("snmp", device="lo", host="127.0.0.1", port=PORT, direction="in", interval=1, timeout=0.5)
    )


async def first_good(r: SnmpReader, seconds: float) -> int:
    """The octets of the first reading that works within ``seconds`` (snmpd may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:  # bounded: until the deadline, one try per 0.2 s
        try:
            return (await r.read(0.0)).octets
        except ReadError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


@pytest.mark.usefixtures("snmpd")
def test_an_interface_is_found_by_name_and_read() -> None:
    async def run() -> None:
        r = reader()
        try:
            assert await first_good(r, 15) >= 0
            assert r.if_index == 1  # lo
        finally:
            r.close()

    asyncio.run(run())


@pytest.mark.usefixtures("snmpd")
def test_a_read_cancelled_while_setting_up_leaves_a_reader_that_reads() -> None:
    async def run() -> None:
        r = reader()
        try:
            for _ in range(3):  # cancelled at once, and again: each time before the transport was made
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(r.read(0.0), 0.000001)
            assert await first_good(r, 15) >= 0
        finally:
            r.close()

    asyncio.run(run())
