"""The BGP UPDATEs inside BMP route monitoring, parsed by ExaBGP's own message parser (no BGP parser of ours).

FRR 8.4's route monitoring carries no ADD-PATH path ids and its peer-up OPENs are empty (measured: 19-byte
headers), so the UPDATEs are read as one path per prefix, 4-octet AS numbers, IPv4 and IPv6 unicast."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from exabgp.bgp.message.direction import Direction
from exabgp.bgp.message.open.capability.negotiated import Negotiated
from exabgp.bgp.message.update import EOR, Update
from exabgp.bgp.message.update.attribute import Attribute
from exabgp.logger import log as exabgp_log
from exabgp.protocol.family import AFI, SAFI

from bgpsteer.monitor.bmp.wire import BGP_HEADER, BGP_TYPE_AT, BmpError

UPDATE = 2


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    next_hop: str
    local_pref: int | None


@dataclass(frozen=True, slots=True)
class Parsed:
    announced: list[Route]
    withdrawn: list[str]
    end_of_rib: bool = False


@cache
def _negotiated() -> Negotiated:
    # ExaBGP's parser logs through its own logger, which only ExaBGP's process sets up: off in the agent's
    exabgp_log.disable()
    n = Negotiated({"capability": {"aigp": False}})
    n.asn4 = True
    n.families = [(AFI.ipv4, SAFI.unicast), (AFI.ipv6, SAFI.unicast)]
    return n


def update(message: bytes) -> Parsed:
    """One whole BGP message (marker, length, type, body); anything ExaBGP cannot parse is a BmpError."""
    if len(message) < BGP_HEADER or message[BGP_TYPE_AT] != UPDATE:
        kind = message[BGP_TYPE_AT] if len(message) > BGP_TYPE_AT else "?"
        raise BmpError(f"route monitoring: a BGP message of type {kind}, not an UPDATE")
    try:
        u = Update.unpack_message(message[BGP_HEADER:], Direction.IN, _negotiated())
    except Exception as exc:  # Notify, or the IndexError/struct.error ExaBGP's own comments say it can raise
        raise BmpError(f"route monitoring: ExaBGP's parser refused the UPDATE: {exc or type(exc).__name__}") from exc
    if isinstance(u, EOR):
        return Parsed([], [], end_of_rib=True)
    lp = u.attributes.get(Attribute.CODE.LOCAL_PREF)
    local_pref = int(lp.localpref) if lp is not None else None
    announced: list[Route] = []
    withdrawn: list[str] = []
    for nlri in u.nlris:
        prefix = nlri.cidr.prefix()
        if nlri.action == nlri.action.ANNOUNCE:
            announced.append(Route(prefix, str(nlri.nexthop), local_pref))
        else:
            withdrawn.append(prefix)
    return Parsed(announced, withdrawn)
