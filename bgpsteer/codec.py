"""ExaBGP 5.0 text protocol: JSON lines in, command lines out.

Decoding never raises: a line that cannot be understood becomes a
``Malformed`` result with a reason, which the agent logs, counts and skips.
The format is pinned by contract tests on lines captured from a real ExaBGP
(tests/contract/captures).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Union

from bgpsteer.core.attrs import Attrs, Interner, format_community, format_large
from bgpsteer.core.events import (
    Announce,
    EndOfRib,
    Event,
    NotificationReceived,
    PeerState,
    RoutesAnnounced,
    RoutesWithdrawn,
    Withdraw,
)

try:  # orjson is optional: about twice as fast on large UPDATE lines
    import orjson

    _loads: Any = orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson
    _loads = json.loads

FAMILIES = {"ipv4 unicast": 4, "ipv6 unicast": 6}
ORIGINS = {"igp", "egp", "incomplete"}
MAX_PREFIXES_PER_LINE = 1000


@dataclass(frozen=True, slots=True)
class Ack:
    ok: bool
    text: str


@dataclass(frozen=True, slots=True)
class Malformed:
    reason: str
    line: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed message bgpsteer has no use for (keepalive, open, other families)."""

    what: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON line that answers a command (e.g. 'show adj-rib out json')."""

    data: dict[str, Any]


Decoded = Union[Event, Ack, Malformed, Ignored, Answer]


class Decoder:
    def __init__(self) -> None:
        self.intern = Interner()
        self.last_time: float | None = None  # ExaBGP's timestamp of the last JSON message (for lag)

    def decode(self, line: str) -> list[Decoded]:
        text = line.strip()
        if not text:
            return []
        if text[0] != "{":
            if text in ("done", "error", "shutdown"):
                return [Ack(text == "done", text)]
            return [Malformed("not JSON and not an acknowledgement", text[:200])]
        try:
            msg = _loads(text)
        except ValueError as exc:
            return [Malformed(f"invalid JSON: {exc}", text[:200])]
        try:
            return self._message(msg)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return [Malformed(f"unexpected message structure: {type(exc).__name__}: {exc}", text[:200])]

    def _message(self, msg: Any) -> list[Decoded]:
        if not isinstance(msg, dict):
            return [Malformed("JSON value is not an object", str(msg)[:200])]
        t = msg.get("time")
        self.last_time = float(t) if isinstance(t, (int, float)) else None
        kind = msg.get("type")
        if kind is None:
            return [Answer(msg)]
        if kind == "state":
            n = msg["neighbor"]
            return [PeerState(str(n["address"]["peer"]), str(n["state"]), str(n.get("reason", "")))]
        if kind == "notification":
            if "neighbor" not in msg:  # ExaBGP's own '"notification": "shutdown"'
                return [Ignored(f"exabgp notification {msg.get('notification')}")]
            n = msg["neighbor"]
            note = n["notification"]
            return [NotificationReceived(str(n["address"]["peer"]), int(note["code"]), int(note["subcode"]), str(note.get("message", "")))]
        if kind == "update":
            n = msg["neighbor"]
            peer = str(n["address"]["peer"])
            message = n["message"]
            if "eor" in message:
                eor = message["eor"]
                afi = FAMILIES.get(f"{eor['afi']} {eor['safi']}")
                return [EndOfRib(peer, afi)] if afi else [Ignored(f"eor {eor['afi']} {eor['safi']}")]
            return self._update(peer, message["update"])
        return [Ignored(str(kind))]

    def _attrs(self, a: dict[str, Any]) -> Attrs:
        origin = str(a.get("origin", "igp"))
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        path: list[int] = []
        segments = a.get("as-path")
        if segments:
            # an object keyed by segment index; AS_SETs are flattened (rare, RFC 6472 deprecates them)
            for key in sorted(segments, key=int):
                path.extend(int(asn) for asn in segments[key]["value"])
        med = a.get("med")
        lp = a.get("local-preference")
        return Attrs(
            origin=origin,
            as_path=tuple(path),
            med=int(med) if med is not None else None,
            local_pref=int(lp) if lp is not None else None,
            communities=tuple(sorted((int(c[0]), int(c[1])) for c in a.get("community", ()))),
            large_communities=tuple(sorted((int(c[0]), int(c[1]), int(c[2])) for c in a.get("large-community", ()))),
        )

    def _update(self, peer: str, update: dict[str, Any]) -> list[Decoded]:
        out: list[Decoded] = []
        for family, items in update.get("withdraw", {}).items():
            afi = FAMILIES.get(family)
            if afi is None:
                out.append(Ignored(f"withdraw {family}"))
                continue
            out.append(RoutesWithdrawn(peer, afi, [str(i["nlri"]) for i in items]))
        announce = update.get("announce")
        if announce:
            base = self._attrs(update.get("attribute", {}))
            for family, by_nh in announce.items():
                afi = FAMILIES.get(family)
                if afi is None:
                    out.append(Ignored(f"announce {family}"))
                    continue
                seen: set[str] = set()
                # BIRD sends IPv6 routes with a global and a link-local next-hop, and ExaBGP
                # lists the prefix under each: keep one, preferring the global address.
                for nh in sorted(by_nh, key=lambda h: h.lower().startswith("fe80:")):
                    prefixes = [p for p in (str(i["nlri"]) for i in by_nh[nh]) if p not in seen]
                    seen.update(prefixes)
                    if prefixes:
                        out.append(RoutesAnnounced(peer, afi, self.intern(base.evolve(next_hop=str(nh))), prefixes))
        return out


# -- commands ------------------------------------------------------------------------


def attribute_text(attrs: Attrs) -> str:
    parts = [f"next-hop {attrs.next_hop}", f"origin {attrs.origin}"]
    if attrs.as_path:
        parts.append("as-path [ " + " ".join(map(str, attrs.as_path)) + " ]")
    if attrs.med is not None:
        parts.append(f"med {attrs.med}")
    if attrs.local_pref is not None:
        parts.append(f"local-preference {attrs.local_pref}")
    if attrs.communities:
        parts.append("community [ " + " ".join(map(format_community, attrs.communities)) + " ]")
    if attrs.large_communities:
        parts.append("large-community [ " + " ".join(map(format_large, attrs.large_communities)) + " ]")
    return " ".join(parts)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def encode(effect: Announce | Withdraw, neighbor: str, size: int = MAX_PREFIXES_PER_LINE) -> Iterator[str]:
    """Command lines for one core router; prefixes are batched per line."""
    if isinstance(effect, Announce):
        head = f"neighbor {neighbor} announce attributes path-information {effect.path_id} {attribute_text(effect.attrs)} nlri "
    else:
        # ExaBGP needs a next-hop to parse the line; it is not part of the withdrawn NLRI's identity
        nh = "0.0.0.0" if effect.afi == 4 else "::"
        head = f"neighbor {neighbor} withdraw attributes path-information {effect.path_id} next-hop {nh} nlri "
    for chunk in _chunks(effect.prefixes, size):
        yield head + " ".join(chunk)


def teardown(neighbor: str) -> str:
    # subcode 1: "Maximum Number of Prefixes Reached" (RFC 4486)
    return f"neighbor {neighbor} teardown 1"


def route_refresh(neighbor: str, afi: int) -> str:
    return f"neighbor {neighbor} announce route-refresh ipv{afi} unicast"
