"""The kernel's TCP-MD5 counters, in the agent's network namespace (/proc/net/netstat is per namespace).

A TCP-MD5 mismatch is logged by neither FRR nor the kernel, and ExaBGP only retries with a growing delay:
these counters are the evidence (RFC 2385 segments dropped for a missing, unexpected or wrong signature).
They count every session of the namespace, so a growing TCPMD5Failure here means a peer of this route
server sends signatures that do not match the configured password (the core's side counts its own drops).
"""

from __future__ import annotations

import itertools
from pathlib import Path

NETSTAT = Path("/proc/net/netstat")
MD5_COUNTERS = {"TCPMD5Failure": "failure", "TCPMD5NotFound": "not_found", "TCPMD5Unexpected": "unexpected"}


def parse_md5(text: str) -> dict[str, int]:
    """The TCP-MD5 counters of /proc/net/netstat's text ('TcpExt: names...' then 'TcpExt: values...')."""
    lines = text.splitlines()
    out: dict[str, int] = {}
    for names, values in itertools.pairwise(lines):
        if not (names.startswith("TcpExt:") and values.startswith("TcpExt:")):
            continue
        for name, value in zip(names.split()[1:], values.split()[1:], strict=False):
            if name in MD5_COUNTERS and value.isdigit():
                out[MD5_COUNTERS[name]] = int(value)
        break
    return out


def md5_counters(path: Path = NETSTAT) -> dict[str, int]:
    """{} where the kernel does not say (no /proc, another OS)."""
    try:
        return parse_md5(path.read_text())
    except OSError:
        return {}
