"""What one core router's BMP session says it holds: per BGP peer of the core, the post-policy path of each prefix
(FRR 8.4 sends one per prefix and peer on ADD-PATH sessions, chosen by FRR).  No I/O: frames in, the table out.

The table is whole only when every peer that is up has sent its post-policy End-of-RIB (FRR sends it after the
initial dump); until then, and after the session is lost, it is not a reading, so a half-received table never
shows as drift.  A frame that breaks the rules is counted and skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from bgpsteer.core.drift import CorePath
from bgpsteer.monitor.bmp import bgp, wire

log = logging.getLogger("bgpsteer.monitor")
PeerKey = tuple[int, bytes, str]
LOGGED = 10  # malformed messages logged one by one; after that every thousandth
QUIET = 3.0  # seconds without a message about a peer after which its table counts as whole without End-of-RIB


@dataclass
class Counters:
    messages: int = 0
    updates: int = 0
    malformed: int = 0
    mirror_lost: int = 0
    ignored: int = 0  # frames bgpsteer does not read (statistics, pre-policy monitoring, mirroring)


class Held(Mapping[str, list[CorePath]]):
    """prefix -> the paths the core holds for it after its policy (one per peer), read through, never copied: a
    table of 100k prefixes copied every interval held the agent's loop for over 100 ms (bench/bmp.py)."""

    def __init__(self, by_prefix: dict[str, dict[PeerKey, CorePath]]) -> None:
        self._by_prefix = by_prefix

    def __getitem__(self, prefix: str) -> list[CorePath]:
        return list(self._by_prefix[prefix].values())

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_prefix)

    def __len__(self) -> int:
        return len(self._by_prefix)


@dataclass
class BmpTable:
    paths: dict[PeerKey, dict[str, CorePath]] = field(default_factory=dict)  # peer -> prefix -> its path
    by_prefix: dict[str, dict[PeerKey, CorePath]] = field(default_factory=dict)  # the same, by prefix
    synced: set[PeerKey] = field(default_factory=set)  # peers whose initial table is in
    active: dict[PeerKey, float] = field(default_factory=dict)  # peer -> when a message about it last came
    router: str = ""  # the sysName the core gave in its initiation message
    counters: Counters = field(default_factory=Counters)
    last_error: str = ""

    def apply(self, message: bytes, now: float = 0.0) -> None:
        """One whole BMP message (wire.split's), at ``now`` (the station's monotonic clock)."""
        self.counters.messages += 1
        try:
            f = wire.frame(message)
            self._apply(f)
            if f.peer is not None and f.peer.key in self.paths:
                self.active[f.peer.key] = now
        except wire.BmpError as exc:
            self.counters.malformed += 1
            self.last_error = str(exc)
            if self.counters.malformed <= LOGGED or self.counters.malformed % 1000 == 0:
                log.warning("BMP: skipped a malformed message (%d so far): %s", self.counters.malformed, exc)

    def _apply(self, f: wire.Frame) -> None:
        if f.kind == wire.INITIATION:
            self.router = _sys_name(f.body) or self.router
        elif f.peer is None:
            self.counters.ignored += 1
        elif f.kind == wire.PEER_UP:
            wire.peer_up(f)  # checked for shape; FRR 8.4's OPENs inside are empty, nothing to learn from them
            self._forget(f.peer.key)
            self.paths[f.peer.key] = {}
        elif f.kind == wire.PEER_DOWN:
            self._forget(f.peer.key)
        elif f.kind == wire.ROUTE_MONITORING and f.peer.post_policy:
            table = self.paths.setdefault(f.peer.key, {})
            for message in wire.bgp_messages(f.body, "route monitoring"):
                self._update(f.peer.key, table, bgp.update(message))
        elif f.kind == wire.ROUTE_MIRRORING and wire.mirror_lost(f):
            self.counters.mirror_lost += 1
        else:
            self.counters.ignored += 1

    def _forget(self, key: PeerKey) -> None:
        for prefix in self.paths.pop(key, {}):
            held = self.by_prefix.get(prefix)
            if held is not None:
                held.pop(key, None)
                if not held:
                    del self.by_prefix[prefix]
        self.synced.discard(key)
        self.active.pop(key, None)

    def _update(self, key: PeerKey, table: dict[str, CorePath], u: bgp.Parsed) -> None:
        self.counters.updates += 1
        if u.end_of_rib:
            self.synced.add(key)
        for prefix in u.withdrawn:
            if table.pop(prefix, None) is not None:
                held = self.by_prefix[prefix]
                del held[key]
                if not held:
                    del self.by_prefix[prefix]
        for r in u.announced:
            # post-policy: what the core holds after its import policy; best and validity are not told by BMP
            table[r.prefix] = p = CorePath(r.next_hop, r.local_pref, best=False, valid=True)
            self.by_prefix.setdefault(r.prefix, {})[key] = p

    def waiting(self, now: float | None = None) -> str:
        """Why the table is not yet whole ("" when it is).  A peer's table is whole at its End-of-RIB, which FRR
        sends after the dump of a peer that is up when the BMP session starts; a peer that comes up later (the
        core restarting, say) gets none, so with ``now`` given a peer quiet for ``QUIET`` seconds counts too."""
        if not self.paths:
            return "BMP: no peer of the core reported yet"
        behind = [
            k[2] for k in self.paths if k not in self.synced and (now is None or now - self.active.get(k, now) < QUIET)
        ]
        if behind:
            return f"BMP: the initial table of {', '.join(sorted(behind))} is still coming ({self.size()} paths so far)"
        return ""

    def size(self) -> int:
        return sum(len(t) for t in self.paths.values())

    def table(self) -> Held:
        """prefix -> the paths the core holds for it after its policy, one per peer (read through)."""
        return Held(self.by_prefix)


def _sys_name(body: bytes) -> str:
    at = 0
    h = wire.TLV_HEADER
    while len(body) - at >= h:
        kind, length = int.from_bytes(body[at : at + 2], "big"), int.from_bytes(body[at + 2 : at + h], "big")
        if kind == wire.SYS_NAME:
            return body[at + h : at + h + length].decode(errors="replace")
        at += h + length
    return ""
