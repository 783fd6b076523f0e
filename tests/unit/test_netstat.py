"""The kernel's TCP-MD5 counters as bgpsteer status shows them (runtime/netstat.py)."""

from pathlib import Path

from bgpsteer.runtime.netstat import md5_counters, parse_md5

TEXT = """TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure TCPAckCompressed
TcpExt: 0 2 1 17 9
IpExt: InNoRoutes TCPMD5Failure
IpExt: 5 99
"""


def test_the_three_md5_counters_of_tcpext_are_read() -> None:
    assert parse_md5(TEXT) == {"not_found": 2, "unexpected": 1, "failure": 17}


def test_a_kernel_that_does_not_say_gives_nothing(tmp_path: Path) -> None:
    assert parse_md5("Ip: Forwarding\nIp: 1\n") == {}
    assert md5_counters(tmp_path / "absent") == {}


def test_this_machines_kernel_is_readable() -> None:
    assert set(md5_counters()) <= {"not_found", "unexpected", "failure"}
