"""Reading a WireGuard peer's latest handshake: from the device's control socket (wireguard-go and other userspace
implementations: ``/var/run/wireguard/DEVICE.sock``, the cross-platform UAPI ``get=1``), else from
``wg show DEVICE dump`` (kernel WireGuard, whose state is in netlink).  Parsing is pure and tested against real
output; the readers only fetch text."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from pathlib import Path

from bgpsteer.core.tunnel import TunnelFacts

SOCKET_DIR = Path("/var/run/wireguard")
READ_TIMEOUT = 2.0  # seconds for one reading: a hung socket or ``wg`` is a failed reading, not a hung loop
MAX_REPLY = 1 << 20  # bytes: a device's whole state is far smaller


@dataclass(frozen=True)
class Peer:
    key: bytes  # the public key, raw (32 bytes)
    handshake: float | None  # the latest handshake's wall-clock time (None: never)


class ReadError(Exception):
    """The device could not be read, for the stated reason."""


def parse_uapi(text: str) -> list[Peer]:
    """The peers of a ``get=1`` reply (``key=value`` lines; a peer starts at ``public_key``, in hex)."""
    peers: list[Peer] = []
    key: bytes | None = None
    sec = nsec = 0
    errno = "0"

    def close() -> None:
        if key is not None:
            peers.append(Peer(key, sec + nsec / 1e9 if sec else None))

    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name == "public_key":
            close()
            key, sec, nsec = _hex_key(value), 0, 0
        elif name == "last_handshake_time_sec" and key is not None:
            sec = int(value)
        elif name == "last_handshake_time_nsec" and key is not None:
            nsec = int(value)
        elif name == "errno":
            errno = value
    close()
    if errno != "0":
        raise ReadError(f"the device answered errno={errno}")
    return peers


def parse_dump(text: str) -> list[Peer]:
    """The peers of ``wg show DEVICE dump``: the first line is the interface; each further line a peer, tab
    separated: public key (base64), preshared key, endpoint, allowed ips, latest handshake (epoch, 0: never), ..."""
    peers = []
    for line in text.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 5:  # noqa: PLR2004 - the dump's fifth field is the latest handshake
            raise ReadError(f"unexpected line in wg's dump: {line[:80]!r}")
        stamp = int(fields[4])
        peers.append(Peer(_b64_key(fields[0]), float(stamp) if stamp else None))
    return peers


def _hex_key(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ReadError(f"not a key: {text[:16]!r}") from exc


def _b64_key(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReadError(f"not a key: {text[:16]!r}") from exc


def facts(egress: str, device: str, want: str | None, peers: list[Peer], wall_now: float) -> TunnelFacts:
    """What a reading means for one egress: its peer (by public key; None: the device's only peer)."""
    if want is not None:
        key = _b64_key(want)
        found = [p for p in peers if p.key == key]
        missing = f"peer {want[:8]}... not on {device}"
    else:
        found = peers if len(peers) == 1 else []
        missing = f"{device} has {len(peers)} peers: name one with 'peer'" if peers else f"{device} has no peer"
    if not found:
        return TunnelFacts(egress, True, False, detail=missing)
    hs = found[0].handshake
    return TunnelFacts(egress, True, True, handshake_stamp=hs, handshake_age=None if hs is None else wall_now - hs)


async def read_socket(device: str, directory: Path | None = None) -> str:
    """The UAPI reply of a userspace WireGuard device (FileNotFoundError: there is no such socket)."""
    path = (directory or SOCKET_DIR) / f"{device}.sock"
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), READ_TIMEOUT)
    try:
        writer.write(b"get=1\n\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.readuntil(b"\n\n"), READ_TIMEOUT)
    except asyncio.IncompleteReadError as exc:
        raise ReadError("the control socket closed mid-reply") from exc
    except asyncio.LimitOverrunError as exc:
        raise ReadError("the control socket's reply is too long") from exc
    finally:
        writer.close()
    return data.decode("ascii", errors="replace")


async def read_dump(device: str, netns: str | None) -> str:
    """``wg show DEVICE dump``, in the device's namespace if given (kernel WireGuard)."""
    argv = ["wg", "show", device, "dump"]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
        )
    except FileNotFoundError as exc:
        raise ReadError(f"{argv[0]} is not installed") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), READ_TIMEOUT)
    except TimeoutError as exc:
        proc.kill()
        await proc.wait()
        raise ReadError(f"'{' '.join(argv)}' took longer than {READ_TIMEOUT:g}s") from exc
    if proc.returncode != 0:
        text = err.decode(errors="replace").strip()
        if "No such device" in text:
            raise FileNotFoundError(text)
        raise ReadError(text or f"'{' '.join(argv)}' exited {proc.returncode}")
    return out[:MAX_REPLY].decode("ascii", errors="replace")
