"""BMP's framing (RFC 7854, version 3): the common header, the per-peer header, and the parts of each message
bgpsteer reads.  The BGP messages inside are left as bytes for ExaBGP's own parser (bmp/bgp.py): no BGP parsing
here.  Pure: bytes in, frames out; a frame that breaks the rules is a ``BmpError`` naming what was wrong."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

VERSION = 3
COMMON = 6  # version (1), length (4), type (1)
PER_PEER = 42  # type, flags, distinguisher (8), address (16), AS (4), BGP ID (4), seconds (4), microseconds (4)
MAX_MESSAGE = 1 << 20  # bytes: larger than any BGP message (64 KiB with extended messages) and its headers
BGP_HEADER = 19
BGP_MARKER = b"\xff" * 16
BGP_TYPE_AT = 18  # the message type's byte in a BGP header
TLV_HEADER = 4  # type (2), length (2)
LOST = (1).to_bytes(2, "big")  # route mirroring information code 1: messages lost

ROUTE_MONITORING, STATISTICS, PEER_DOWN, PEER_UP, INITIATION, TERMINATION, ROUTE_MIRRORING = range(7)
TYPES = ("route monitoring", "statistics", "peer down", "peer up", "initiation", "termination", "route mirroring")
FLAG_V6, FLAG_POST_POLICY = 0x80, 0x40
MIRROR_BGP_MESSAGE, MIRROR_INFORMATION = 0, 1
INFO_STRING, SYS_DESCR, SYS_NAME = 0, 1, 2


class BmpError(ValueError):
    """A BMP message that breaks the framing rules; ``fatal`` when the stream cannot be followed past it."""

    def __init__(self, why: str, fatal: bool = False) -> None:
        super().__init__(why)
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class Peer:
    """Who the monitored router's session is with (the per-peer header)."""

    peer_type: int
    flags: int
    distinguisher: bytes
    address: str
    asn: int
    bgp_id: str

    @property
    def post_policy(self) -> bool:
        return bool(self.flags & FLAG_POST_POLICY)

    @property
    def key(self) -> tuple[int, bytes, str]:
        return self.peer_type, self.distinguisher, self.address


@dataclass(frozen=True, slots=True)
class Frame:
    kind: int  # one of the message types above
    peer: Peer | None  # None for initiation and termination
    body: bytes  # what follows the headers

    @property
    def name(self) -> str:
        return TYPES[self.kind] if self.kind < len(TYPES) else f"type {self.kind}"


def split(buffer: bytes | bytearray) -> tuple[list[bytes], int]:
    """Whole BMP messages at the front of ``buffer``, and how many bytes they took.  A header that cannot be BMP
    version 3 is fatal: past it there is no telling where the next message starts."""
    out: list[bytes] = []
    at = 0
    view = memoryview(buffer)
    while len(buffer) - at >= COMMON:
        version, length = buffer[at], struct.unpack_from("!I", buffer, at + 1)[0]
        if version != VERSION:
            raise BmpError(f"BMP version {version}, not {VERSION}", fatal=True)
        if length < COMMON or length > MAX_MESSAGE:
            raise BmpError(f"BMP message length {length} out of range ({COMMON}..{MAX_MESSAGE})", fatal=True)
        if len(buffer) - at < length:
            break
        out.append(bytes(view[at : at + length]))
        at += length
    return out, at


def _address(raw: bytes, v6: bool) -> str:
    return str(ipaddress.IPv6Address(raw)) if v6 else str(ipaddress.IPv4Address(raw[12:]))


def frame(message: bytes) -> Frame:
    """One whole BMP message (as ``split`` gives them) as a frame."""
    kind = message[5]
    if kind in (INITIATION, TERMINATION) or kind >= len(TYPES):
        return Frame(kind, None, message[COMMON:])
    if len(message) < COMMON + PER_PEER:
        raise BmpError(f"{TYPES[kind]}: {len(message)} bytes, shorter than its per-peer header")
    h = message[COMMON : COMMON + PER_PEER]
    flags = h[1]
    peer = Peer(
        peer_type=h[0],
        flags=flags,
        distinguisher=bytes(h[2:10]),
        address=_address(bytes(h[10:26]), bool(flags & FLAG_V6)),
        asn=struct.unpack_from("!I", h, 26)[0],
        bgp_id=str(ipaddress.IPv4Address(bytes(h[30:34]))),
    )
    return Frame(kind, peer, message[COMMON + PER_PEER :])


def bgp_messages(data: bytes, what: str) -> list[bytes]:
    """The BGP messages (marker, length, type, body) laid end to end in ``data``."""
    out: list[bytes] = []
    at = 0
    while at < len(data):
        if len(data) - at < BGP_HEADER or data[at : at + 16] != BGP_MARKER:
            raise BmpError(f"{what}: no BGP message header at byte {at}")
        length = struct.unpack_from("!H", data, at + 16)[0]
        if length < BGP_HEADER or at + length > len(data):
            raise BmpError(f"{what}: BGP message length {length} at byte {at} does not fit")
        out.append(data[at : at + length])
        at += length
    return out


@dataclass(frozen=True, slots=True)
class PeerUp:
    local_address: str
    local_port: int
    remote_port: int
    sent_open: bytes  # the OPEN the monitored router sent (whole BGP message)
    received_open: bytes  # the OPEN it received from the peer


def peer_up(f: Frame) -> PeerUp:
    b = f.body
    if len(b) < 20 + 2 * BGP_HEADER:
        raise BmpError(f"peer up: {len(b)} bytes, too short for two OPEN messages")
    assert f.peer is not None
    local = _address(bytes(b[0:16]), bool(f.peer.flags & FLAG_V6))
    local_port, remote_port = struct.unpack_from("!HH", b, 16)
    messages = _leading_messages(b[20:], 2, "peer up")
    return PeerUp(local, local_port, remote_port, messages[0], messages[1])


def _leading_messages(data: bytes, count: int, what: str) -> list[bytes]:
    """The first ``count`` BGP messages of ``data`` (peer up's OPENs are followed by optional TLVs)."""
    out: list[bytes] = []
    at = 0
    for _ in range(count):
        if len(data) - at < BGP_HEADER or data[at : at + 16] != BGP_MARKER:
            raise BmpError(f"{what}: no BGP OPEN at byte {at}")
        length = struct.unpack_from("!H", data, at + 16)[0]
        if length < BGP_HEADER or at + length > len(data) or data[at + BGP_TYPE_AT] != 1:
            raise BmpError(f"{what}: the BGP message at byte {at} is not a whole OPEN")
        out.append(data[at : at + length])
        at += length
    return out


def mirrored(f: Frame) -> list[bytes]:
    """The BGP messages a route mirroring message carries (its information TLVs, e.g. messages lost, dropped)."""
    out: list[bytes] = []
    b = f.body
    at = 0
    while at < len(b):
        if len(b) - at < TLV_HEADER:
            raise BmpError("route mirroring: a TLV header cut short")
        kind, length = struct.unpack_from("!HH", b, at)
        value = b[at + 4 : at + 4 + length]
        if len(value) != length:
            raise BmpError(f"route mirroring: TLV of {length} bytes cut short")
        if kind == MIRROR_BGP_MESSAGE:
            out += bgp_messages(value, "route mirroring")
        at += 4 + length
    return out


def mirror_lost(f: Frame) -> bool:
    """Whether a route mirroring message says messages were lost (information code 1): the view is incomplete."""
    b = f.body
    at = 0
    while len(b) - at >= TLV_HEADER:
        kind, length = struct.unpack_from("!HH", b, at)
        if kind == MIRROR_INFORMATION and b[at + TLV_HEADER : at + TLV_HEADER + length] == LOST:
            return True
        at += TLV_HEADER + length
    return False
