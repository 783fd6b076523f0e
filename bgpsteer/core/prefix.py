"""Prefixes as integers, and prefix sets with ge/le ranges.

A prefix is parsed once into ``(afi, network, length)`` with ``afi`` 4 or 6.
Matching a prefix against a set costs one dictionary lookup per distinct
prefix length in the set, independent of the set's size.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from bgpsteer.core.family import IPV4, IPV6

ParsedPrefix = tuple[int, int, int]  # (afi, network as int, prefix length)

BITS = {IPV4: 32, IPV6: 128}
OCTETS, OCTET_MAX, OCTET_DIGITS = 4, 255, 3  # dotted quad


def _parse_v4(addr: str) -> int:
    parts = addr.split(".")
    if len(parts) != OCTETS:
        raise ValueError(f"invalid IPv4 address {addr!r}")
    a, b, c, d = parts
    # isdigit() rejects signs and blanks that int() would accept; unrolled: this runs per route
    if (
        not (a.isdigit() and b.isdigit() and c.isdigit() and d.isdigit())
        or max(len(a), len(b), len(c), len(d)) > OCTET_DIGITS
    ):
        raise ValueError(f"invalid IPv4 address {addr!r}")
    ia, ib, ic, id_ = int(a), int(b), int(c), int(d)
    if ia > OCTET_MAX or ib > OCTET_MAX or ic > OCTET_MAX or id_ > OCTET_MAX:
        raise ValueError(f"invalid IPv4 address {addr!r}")
    return (ia << 24) | (ib << 16) | (ic << 8) | id_


def parse_address(addr: str) -> tuple[int, int]:
    """'192.0.2.1' -> (4, int); '2001:db8::1' -> (6, int). Raises ValueError."""
    if ":" in addr:
        return IPV6, int(ipaddress.IPv6Address(addr))
    return IPV4, _parse_v4(addr)


def parse_prefix(text: str) -> ParsedPrefix:
    """Parse 'a.b.c.d/len' or 'v6::/len'; host bits must be zero. Raises ValueError."""
    addr, sep, length_text = text.partition("/")
    if not sep or not length_text.isdigit():
        raise ValueError(f"invalid prefix {text!r}: expected ADDRESS/LENGTH")
    afi, network = parse_address(addr)
    length = int(length_text)
    bits = BITS[afi]
    if length > bits:
        raise ValueError(f"invalid prefix {text!r}: length {length} > {bits}")
    if network & ((1 << (bits - length)) - 1):
        raise ValueError(f"invalid prefix {text!r}: host bits set")
    return afi, network, length


def format_prefix(p: ParsedPrefix) -> str:
    """The canonical text (what ExaBGP prints and takes).  IPv4 by hand: the same dotted quad as ipaddress's, at a
    fifth of the cost, since every new prefix from a cloud peer is checked against it."""
    afi, network, length = p
    if afi == IPV4:
        return f"{network >> 24}.{(network >> 16) & 255}.{(network >> 8) & 255}.{network & 255}/{length}"
    return f"{ipaddress.IPv6Address(network)}/{length}"


def covers(outer: ParsedPrefix, inner: ParsedPrefix) -> bool:
    """True if inner lies within outer (or equals it)."""
    if outer[0] != inner[0] or outer[2] > inner[2]:
        return False
    shift = BITS[outer[0]] - outer[2]
    return (outer[1] >> shift) == (inner[1] >> shift)


@dataclass(frozen=True)
class PrefixRange:
    """PREFIX [ge N] [le N]: prefixes inside PREFIX whose length is in [ge, le]."""

    prefix: ParsedPrefix
    ge: int
    le: int

    def prefix_text(self) -> str:
        return format_prefix(self.prefix)

    def __str__(self) -> str:
        text = format_prefix(self.prefix)
        plen = self.prefix[2]
        if self.ge == plen and self.le == plen:
            return text
        if self.ge != plen:
            text += f" ge {self.ge}"
        if self.le != BITS[self.prefix[0]] or self.ge == plen:
            text += f" le {self.le}"
        return text


def parse_range(text: str) -> PrefixRange:
    """Parse 'P', 'P le N', 'P ge N', 'P ge N le M'. Raises ValueError."""
    words = text.split()
    if not words:
        raise ValueError("empty prefix range")
    prefix = parse_prefix(words[0])
    bits = BITS[prefix[0]]
    ge: int | None = None
    le: int | None = None
    rest = words[1:]
    if len(rest) % 2:
        raise ValueError(f"invalid prefix range {text!r}: expected 'PREFIX [ge N] [le N]'")
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        if key not in ("ge", "le") or not value.isdigit():
            raise ValueError(f"invalid prefix range {text!r}: expected 'PREFIX [ge N] [le N]'")
        if key == "ge":
            if ge is not None:
                raise ValueError(f"invalid prefix range {text!r}: ge given twice")
            ge = int(value)
        else:
            if le is not None:
                raise ValueError(f"invalid prefix range {text!r}: le given twice")
            le = int(value)
    plen = prefix[2]
    if ge is None and le is None:
        ge = le = plen
    elif ge is None:
        ge = plen
    elif le is None:
        le = bits
    assert ge is not None
    assert le is not None
    if not plen <= ge <= le <= bits:
        raise ValueError(f"invalid prefix range {text!r}: need {plen} <= ge <= le <= {bits}, got ge {ge} le {le}")
    return PrefixRange(prefix, ge, le)


class PrefixSet:
    """A set of prefix ranges, indexed by (afi, length) for O(distinct lengths) matching."""

    __slots__ = ("_index", "name", "ranges")

    def __init__(self, name: str, ranges: Iterable[PrefixRange]) -> None:
        self.name = name
        self.ranges = tuple(ranges)
        index: dict[int, dict[int, dict[int, list[tuple[int, int]]]]] = {4: {}, 6: {}}
        for r in self.ranges:
            afi, net, plen = r.prefix
            by_len = index[afi].setdefault(plen, {})
            by_len.setdefault(net >> (BITS[afi] - plen), []).append((r.ge, r.le))
        # afi -> [(len, shift, {masked net: [(ge, le)]})], shortest first
        self._index = {
            afi: [(plen, BITS[afi] - plen, nets) for plen, nets in sorted(by_len.items())]
            for afi, by_len in index.items()
        }

    def _span(self, p: ParsedPrefix) -> tuple[int, int, int] | None:
        """(length, ge, le) of a matching range, or None."""
        afi, net, length = p
        for plen, shift, nets in self._index[afi]:
            if plen > length:
                break
            spans = nets.get(net >> shift)
            if spans:
                for ge, le in spans:
                    if ge <= length <= le:
                        return plen, ge, le
        return None

    def match(self, p: ParsedPrefix) -> PrefixRange | None:
        span = self._span(p)
        return self._find(p, *span) if span else None

    def __contains__(self, p: ParsedPrefix) -> bool:
        return self._span(p) is not None

    def _find(self, p: ParsedPrefix, plen: int, ge: int, le: int) -> PrefixRange:
        for r in self.ranges:
            if r.prefix[2] == plen and r.ge == ge and r.le == le and covers(r.prefix, p):
                return r
        raise AssertionError("index and ranges disagree")  # pragma: no cover


# RFC 6890 special-purpose and other never-routable space.  Private space
# (RFC 1918, RFC 6598 shared, ULA) is listed separately: in a VPN fabric it is
# the normal content of cloud VPCs, so rejecting it is opt-in.
SPECIAL_PURPOSE = (
    "0.0.0.0/8 le 32",
    "127.0.0.0/8 le 32",
    "169.254.0.0/16 le 32",
    "192.0.0.0/24 le 32",
    "192.0.2.0/24 le 32",
    "198.18.0.0/15 le 32",
    "198.51.100.0/24 le 32",
    "203.0.113.0/24 le 32",
    "224.0.0.0/4 le 32",
    "240.0.0.0/4 le 32",
    "::/8 le 128",
    "100::/64 le 128",
    "2001:2::/48 le 128",
    "2001:10::/28 le 128",
    "2001:db8::/32 le 128",
    "3ffe::/16 le 128",
    "fe80::/10 le 128",
    "fec0::/10 le 128",
    "ff00::/8 le 128",
)
PRIVATE = ("10.0.0.0/8 le 32", "172.16.0.0/12 le 32", "192.168.0.0/16 le 32", "100.64.0.0/10 le 32", "fc00::/7 le 128")

# First octets of IPv4 special-purpose space: most routes skip the set lookup.
SPECIAL_PURPOSE_V4_FIRST_OCTETS = frozenset([0, 127, 169, 192, 198, 203, *range(224, 256)])
SPECIAL_PURPOSE_SET = PrefixSet("special-purpose", (parse_range(r) for r in SPECIAL_PURPOSE))
PRIVATE_SET = PrefixSet("private", (parse_range(r) for r in PRIVATE))
# Next-hops that can never be a real gateway.
MARTIAN_NEXT_HOP = PrefixSet(
    "martian-next-hop",
    (
        parse_range(r)
        for r in (
            "0.0.0.0/8 le 32",
            "127.0.0.0/8 le 32",
            "224.0.0.0/4 le 32",
            "240.0.0.0/4 le 32",
            "::/128",
            "::1/128",
            "ff00::/8 le 128",
        )
    ),
)
