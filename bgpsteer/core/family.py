"""Address families as bgpsteer numbers them (the IP version), and how a prefix's family is told: once."""

from __future__ import annotations

from typing import Literal

Family = Literal["ipv4", "ipv6"]
IPV4, IPV6 = 4, 6
FAMILY_AFI: dict[str, int] = {"ipv4": IPV4, "ipv6": IPV6}
AFI_FAMILY: dict[int, Family] = {IPV4: "ipv4", IPV6: "ipv6"}


def afi_of(text: str) -> int:
    """The family of a prefix or address already known to be valid (from the RIB, a decoded UPDATE, a config):
    IPv6 text always holds a colon, IPv4 text never does."""
    return IPV6 if ":" in text else IPV4
