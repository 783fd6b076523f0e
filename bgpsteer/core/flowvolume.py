"""Per-prefix volumes from flow records: each record's destination is matched to the longest RIB prefix that holds
it, and the octets that arrived within the last ``window`` seconds become Mbit/s.  Time comes in as ``now``.

Memory is bounded: one counter per (prefix, second) inside the window, and only prefixes the RIB holds (a flow to
an address no prefix holds is counted as unmatched, never kept).  A window with no record from any exporter is no
volume at all (unknown), never zero: ``rates`` says so by returning None.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


class PrefixMatch:
    """Longest match of an address against a set of prefixes: one dict per prefix length in use, longest first."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.by_len: dict[tuple[bool, int], dict[int, str]] = {}
        for p in prefixes:
            v6, network, length = parse(p)
            self.by_len.setdefault((v6, length), {})[network] = p
        self.lengths = {
            v6: sorted(((n, 128 if v6 else 32) for (x, n) in self.by_len if x == v6), reverse=True)
            for v6 in (False, True)
        }

    def lookup(self, address: int, v6: bool) -> str | None:
        for n, bits in self.lengths[v6]:
            hit = self.by_len[v6, n].get(address >> (bits - n) << (bits - n))
            if hit is not None:
                return hit
        return None


def parse(prefix: str) -> tuple[bool, int, int]:
    """(IPv6?, network as an integer, length) of a RIB prefix (canonical text; IPv4 read by hand: a RIB of a million
    prefixes is read in about a second, where ipaddress takes several)."""
    addr, _, length = prefix.partition("/")
    if ":" in addr:
        net = ipaddress.IPv6Network(prefix, strict=False)
        return True, int(net.network_address), net.prefixlen
    a, b, c, d = addr.split(".")
    n = int(length)
    value = (int(a) << 24) | (int(b) << 16) | (int(c) << 8) | int(d)
    return False, value >> (32 - n) << (32 - n), n


class VolumeWindow:
    def __init__(self, window: float) -> None:
        self.window = window
        self.buckets: dict[str, dict[int, int]] = {}  # prefix -> {second: octets}
        self.unmatched = 0  # octets to addresses no prefix holds
        self.last_record: float | None = None

    def add(self, prefix: str | None, octets: int, now: float) -> None:
        self.last_record = now
        if prefix is None:
            self.unmatched += octets
            return
        second = int(now)
        b = self.buckets.setdefault(prefix, {})
        b[second] = b.get(second, 0) + octets

    def rates(self, now: float) -> dict[str, float] | None:
        """Mbit/s per prefix over the window; None when no record came within it (unknown, not zero).  Prefixes with
        nothing in the window are left out (zero)."""
        oldest = int(now - self.window)
        for prefix in list(self.buckets):
            b = self.buckets[prefix]
            for s in [s for s in b if s <= oldest]:
                del b[s]
            if not b:
                del self.buckets[prefix]
        if self.last_record is None or now - self.last_record > self.window:
            return None
        return {p: sum(b.values()) * 8 / self.window / 1e6 for p, b in self.buckets.items()}
