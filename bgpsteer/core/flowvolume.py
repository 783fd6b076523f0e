"""Per-prefix volumes from flow records: each record's destination is matched to the longest RIB prefix that holds
it, and the octets that arrived within the last ``window`` seconds become Mbit/s.  Time comes in as ``now``.

Memory is bounded: one counter per (prefix, second) inside the window, and only prefixes the RIB holds (a flow to
an address no prefix holds is counted as unmatched, never kept).  A window with no record from any exporter is no
volume at all (unknown), never zero: ``rates`` says so by returning None.
"""

from __future__ import annotations

import ipaddress
import math
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
    """Octets per prefix over the last ``window`` seconds: one slice per second (prefix -> octets) and a running
    total per prefix.  A second that leaves the window is subtracted from the totals, so ``rates`` costs what left
    plus one pass over the prefixes that carry traffic, not a walk over every (prefix, second) kept."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.slices: dict[int, dict[str, int]] = {}  # second -> {prefix: octets}
        self.totals: dict[str, int] = {}  # prefix -> octets within the window
        self.unmatched = 0  # octets to addresses no prefix holds
        self.last_record: float | None = None

    def add(self, prefix: str | None, octets: int, now: float) -> None:
        self.last_record = now
        if prefix is None:
            self.unmatched += octets
            return
        second = int(now)
        s = self.slices.get(second)
        if s is None:
            s = self.slices[second] = {}
        s[prefix] = s.get(prefix, 0) + octets
        self.totals[prefix] = self.totals.get(prefix, 0) + octets

    def rates(self, now: float) -> dict[str, float] | None:
        """Mbit/s per prefix over the window; None when no record came within it (unknown, not zero).  Prefixes with
        nothing in the window are left out (zero)."""
        # whole seconds: the slice of the second the window starts in is kept, and the rate is over the span the
        # kept slices cover (window to window + 1 s), so a record is never dropped before it is window seconds old
        oldest = math.floor(now - self.window)
        totals = self.totals
        for second in [s for s in self.slices if s < oldest]:
            for prefix, octets in self.slices.pop(second).items():
                left = totals[prefix] - octets
                if left:
                    totals[prefix] = left
                else:
                    del totals[prefix]
        if self.last_record is None or now - self.last_record > self.window:
            return None
        scale = 8 / (now - oldest) / 1e6
        return {p: t * scale for p, t in totals.items()}
