"""ExaBGP 5.0 text protocol: JSON lines in, command lines out.

Decoding never raises: a line that cannot be understood becomes a
``Malformed`` result with a reason, which the agent logs, counts and skips.
The format is pinned by contract tests on lines captured from a real ExaBGP
(tests/contract/captures).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Union

from bgpsteer.core.attrs import (
    COMMUNITY_PARTS,
    LARGE_PARTS,
    U16_MAX,
    U32_MAX,
    Attrs,
    Interner,
    format_community,
    format_large,
)
from bgpsteer.core.events import (
    Announce,
    EndOfRib,
    Event,
    HeldRoute,
    NotificationReceived,
    PeerState,
    RefreshMarker,
    RoutesAnnounced,
    RoutesWithdrawn,
    SessionSummary,
    Withdraw,
)
from bgpsteer.core.model import IPV4, IPV6
from bgpsteer.core.reconcile import parse_held

try:  # orjson is optional: about twice as fast on large UPDATE lines
    import orjson

    _loads: Any = orjson.loads
except ImportError:  # pragma: no cover - exercised only without orjson
    _loads = json.loads

# what a decoded line hands the engine (the rest are answers and acks, for the adapter)
BGP_EVENTS = (PeerState, RoutesAnnounced, RoutesWithdrawn, EndOfRib, RefreshMarker, NotificationReceived)

FAMILIES = {"ipv4 unicast": IPV4, "ipv6 unicast": IPV6}
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
class Text:
    """A plain-text line that is neither an ack nor a line of an answer bgpsteer parses (e.g. a summary header)."""

    line: str


@dataclass(frozen=True, slots=True)
class SummaryHeader:
    """The first line of ExaBGP's answer to 'show neighbor summary' (always written, sessions or not)."""


SUMMARY_HEADER = ["Peer", "AS", "up/down", "state", "|", "#sent", "#recvd"]
SUMMARY_COLUMNS = ("peer", "as", "up/down", "state", "sent", "received")  # of a row


@dataclass(frozen=True, slots=True)
class Answer:
    """A JSON line that answers a command (e.g. 'show adj-rib out json')."""

    data: dict[str, Any]


Decoded = Union[Event, Ack, Malformed, Ignored, Answer, Text, HeldRoute, SessionSummary, SummaryHeader]

# ExaBGP's FSM state names (show neighbor summary) -> the states its neighbor-changes messages use
FSM_STATES = {
    "established": "up",
    "opensent": "connected",
    "openconfirm": "connected",
    "idle": "down",
    "active": "down",
    "connect": "down",
}


def _plain(text: str) -> Decoded:
    """A line that is not JSON: an ack, a line of an answer to a show command, or other text."""
    if text in ("done", "error", "shutdown"):
        return Ack(text == "done", text)
    held = parse_held(text)
    if held is not None:
        return HeldRoute(*held)
    row = parse_summary_row(text)
    if row is not None:
        return row
    return SummaryHeader() if text.split() == SUMMARY_HEADER else Text(text)


def parse_summary_row(line: str) -> SessionSummary | None:
    """'10.250.0.2      65000     0:01:23 established          5          3' -> SessionSummary."""
    words = line.split()
    if (
        len(words) != len(SUMMARY_COLUMNS)
        or not words[4].isdigit()
        or not words[5].isdigit()
        or words[3] not in FSM_STATES
    ):
        return None
    return SessionSummary(words[0], FSM_STATES[words[3]], words[3])


class Decoder:
    def __init__(self) -> None:
        self.intern = Interner()
        self.last_time: float | None = None  # ExaBGP's timestamp of the last JSON message (for lag)
        self.local_pref_dropped = 0  # UPDATEs from (eBGP) cloud peers that carried LOCAL_PREF

    def decode(self, line: str) -> list[Decoded]:
        text = line.strip()
        if not text:
            return []
        if text[0] != "{":
            return [_plain(text)]
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
        self.last_time = float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None
        kind = msg.get("type")
        if kind is None:
            return [Answer(msg)]
        if kind == "update":
            return self._update_message(msg["neighbor"])
        handler = _MESSAGES.get(kind) if isinstance(kind, str) else None
        return [handler(msg) if handler is not None else Ignored(str(kind))]

    def _update_message(self, n: Any) -> list[Decoded]:
        peer = _address(n)
        message = n["message"]
        if "eor" in message:
            eor = message["eor"]
            afi = FAMILIES.get(f"{eor['afi']} {eor['safi']}")
            return [EndOfRib(peer, afi)] if afi else [Ignored(f"eor {eor['afi']} {eor['safi']}")]
        return self._update(peer, message["update"])

    def _attrs(self, a: Any) -> Attrs:
        """Every attribute checked for type and range: a bad one makes the whole UPDATE malformed.

        LOCAL_PREF is dropped: cloud peers are eBGP (the config enforces it), and LOCAL_PREF is
        not meaningful from an eBGP peer (RFC 4271 5.1.5), though ExaBGP 5.0.15 passes it on."""
        if not isinstance(a, dict):
            raise TypeError("attribute is not an object")
        origin = a.get("origin", "igp")
        if origin not in ORIGINS:
            raise ValueError(f"unknown origin {origin!r}")
        path: list[int] = []
        segments = a.get("as-path")
        if segments:
            if not isinstance(segments, dict):
                raise TypeError("as-path is not an object of segments")
            # an object keyed by segment index; AS_SETs are flattened (rare, RFC 6472 deprecates them)
            for key in sorted(segments, key=_segment_index):
                seg = segments[key]
                value = seg["value"] if isinstance(seg, dict) else None
                if not isinstance(value, list):
                    raise TypeError(f"as-path segment {key}: value is not a list of AS numbers")
                path.extend(_uint(asn, U32_MAX, "AS number") for asn in value)
        med = a.get("med")
        if "local-preference" in a:
            self.local_pref_dropped += 1
        return Attrs(
            origin=origin,
            as_path=tuple(path),
            med=_uint(med, U32_MAX, "med") if med is not None else None,
            communities=tuple(sorted(_community(c) for c in _list(a.get("community", ()), "community"))),
            large_communities=tuple(sorted(_large(c) for c in _list(a.get("large-community", ()), "large-community"))),
        )

    def _update(self, peer: str, update: Any) -> list[Decoded]:
        if not isinstance(update, dict):
            raise TypeError("update is not an object")
        out: list[Decoded] = []
        for family, items in _dict(update.get("withdraw", {}), "withdraw").items():
            afi = FAMILIES.get(family)
            if afi is None:
                out.append(Ignored(f"withdraw {family}"))
                continue
            prefixes, bad = _nlri(items)
            if bad:
                out.append(
                    Malformed(f"withdraw {family}: {bad} NLRI without a prefix string skipped", str(items)[:200])
                )
            if prefixes:
                out.append(RoutesWithdrawn(peer, afi, prefixes))
        announce = update.get("announce")
        if announce:
            base = self._attrs(update.get("attribute", {}))
            for family, by_nh in _dict(announce, "announce").items():
                afi = FAMILIES.get(family)
                if afi is None:
                    out.append(Ignored(f"announce {family}"))
                    continue
                seen: set[str] = set()
                # BIRD sends IPv6 routes with a global and a link-local next-hop, and ExaBGP
                # lists the prefix under each: keep one, preferring the global address.
                for nh in sorted(_dict(by_nh, "announce family"), key=lambda h: h.lower().startswith("fe80:")):
                    got, bad = _nlri(by_nh[nh])
                    if bad:
                        out.append(
                            Malformed(
                                f"announce {family}: {bad} NLRI without a prefix string skipped", str(by_nh[nh])[:200]
                            )
                        )
                    prefixes = [p for p in got if p not in seen]
                    seen.update(prefixes)
                    if prefixes:
                        out.append(RoutesAnnounced(peer, afi, self.intern(base.evolve(next_hop=nh)), prefixes))
        return out


# -- validation of ExaBGP's JSON: every value of the right type and range, or a reason ---------------


def _state_message(msg: Any) -> Decoded:
    n = msg["neighbor"]
    state = n["state"]
    if not isinstance(state, str) or state not in PEER_STATES:
        raise ValueError(f"neighbor state {state!r} is not one of {', '.join(sorted(PEER_STATES))}")
    reason = n.get("reason", "")
    return PeerState(_address(n), state, reason if isinstance(reason, str) else str(reason))


def _notification_message(msg: Any) -> Decoded:
    if "neighbor" not in msg:  # ExaBGP's own '"notification": "shutdown"'
        return Ignored(f"exabgp notification {msg.get('notification')}")
    n = msg["neighbor"]
    note = n["notification"]
    text = note.get("message", "")
    return NotificationReceived(
        _address(n),
        _uint(note["code"], 255, "notification code"),
        _uint(note["subcode"], 255, "notification subcode"),
        text if isinstance(text, str) else str(text),
    )


def _refresh_message(msg: Any) -> Decoded:
    """A ROUTE-REFRESH message: a peer's request (ignored: bgpsteer announces nothing to cloud peers), or the
    begin / end markers of its re-advertisement (RFC 7313), which tell when its table is complete again."""
    n = msg["neighbor"]
    rr = n["route-refresh"]
    afi = FAMILIES.get(f"{rr['afi']} {rr['safi']}")
    subtype = rr["subtype"]
    if n.get("direction") != "receive" or afi is None or subtype not in ("begin", "end"):
        return Ignored(f"route-refresh {rr.get('subtype')} {rr.get('afi')} {rr.get('safi')}")
    return RefreshMarker(_address(n), afi, subtype == "end")


_MESSAGES: dict[str, Callable[[Any], Decoded]] = {
    "state": _state_message,
    "notification": _notification_message,
    "refresh": _refresh_message,
}  # "update" is the decoder's own (it interns attribute sets)

PEER_STATES = frozenset({"up", "down", "connected"})


def _uint(value: Any, top: int, what: str) -> int:
    # bool is an int in Python, and "64512" is not a number here: both would misparse silently
    if type(value) is not int or not 0 <= value <= top:
        raise ValueError(f"{what} {value!r} is not an integer in 0..{top}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{what} is not a list")
    return list(value)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not an object")
    return value


def _community(c: Any) -> tuple[int, int]:
    if not isinstance(c, list) or len(c) != COMMUNITY_PARTS:
        raise ValueError(f"community {c!r} is not a pair [asn, value]")
    return _uint(c[0], U16_MAX, "community part"), _uint(c[1], U16_MAX, "community part")


def _large(c: Any) -> tuple[int, int, int]:
    if not isinstance(c, list) or len(c) != LARGE_PARTS:
        raise ValueError(f"large community {c!r} is not a triple")
    return (
        _uint(c[0], U32_MAX, "large community part"),
        _uint(c[1], U32_MAX, "large community part"),
        _uint(c[2], U32_MAX, "large community part"),
    )


def _segment_index(key: Any) -> int:
    if not isinstance(key, str) or not key.isdigit():
        raise ValueError(f"as-path segment key {key!r} is not an index")
    return int(key)


def _address(neighbor: Any) -> str:
    peer = neighbor["address"]["peer"]
    if not isinstance(peer, str) or not peer:
        raise ValueError(f"neighbor address {peer!r} is not a string")
    return peer


def _nlri(items: Any) -> tuple[list[str], int]:
    """The prefix strings of an NLRI list, and how many items had none (skipped, reported as malformed).

    Prefix text is checked for canonical form and family where it is parsed, once per prefix (core/engine.py)."""
    if not isinstance(items, list):
        raise TypeError("NLRI list is not a list")
    prefixes = [p for i in items if isinstance(i, dict) and isinstance(p := i.get("nlri"), str)]
    return prefixes, len(items) - len(prefixes)


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
    if attrs.link_bandwidth:
        asn, bps = attrs.link_bandwidth
        parts.append(f"extended-community [ bandwidth:{asn}:{bps} ]")
    return " ".join(parts)


def chunks(effect: Announce | Withdraw, size: int = MAX_PREFIXES_PER_LINE) -> Iterator[Announce | Withdraw]:
    """The effect in batches of at most ``size`` prefixes: one command line each."""
    if len(effect.prefixes) <= size:
        yield effect
        return
    for i in range(0, len(effect.prefixes), size):
        yield replace(effect, prefixes=effect.prefixes[i : i + size])


def encode_one(effect: Announce | Withdraw, neighbor: str) -> str:
    """One command line for one core router, all of the effect's prefixes batched on it."""
    # towards a cloud (the return path) there is no ADD-PATH: no path identifier on the line
    pid = "" if effect.peer is not None else f"path-information {effect.path_id} "
    if isinstance(effect, Announce):
        attrs = attribute_text(effect.attrs)
        head = f"neighbor {neighbor} announce attributes {pid}{attrs} nlri "
    else:
        # ExaBGP needs a next-hop to parse the line; it is not part of the withdrawn NLRI's identity
        nh = "0.0.0.0" if effect.afi == IPV4 else "::"
        head = f"neighbor {neighbor} withdraw attributes {pid}next-hop {nh} nlri "
    return head + " ".join(effect.prefixes)


def encode(effect: Announce | Withdraw, neighbor: str, size: int = MAX_PREFIXES_PER_LINE) -> Iterator[str]:
    """Command lines for one core router; prefixes are batched per line."""
    for chunk in chunks(effect, size):
        yield encode_one(chunk, neighbor)


def teardown(neighbor: str) -> str:
    # subcode 1: "Maximum Number of Prefixes Reached" (RFC 4486)
    return f"neighbor {neighbor} teardown 1"


def route_refresh(neighbor: str, afi: int) -> str:
    return f"neighbor {neighbor} announce route-refresh ipv{afi} unicast"
