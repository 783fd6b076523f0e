"""An egress's encrypted tunnel as a health input: what its state is, from facts an adapter read (runtime/tunnels.py).

- ``interface``: the tunnel device's link.  Down when the link is down or the device went away; up when it is up.
- ``wireguard``: the peer's latest handshake.  Down when the peer is gone, when there was never a handshake, or
  when the latest is older than ``reject_after`` (WireGuard's REJECT_AFTER_TIME, 180 s: no data flows on keys
  older than that); up otherwise.  A new handshake while up is a rekey (every two minutes while data flows): it
  changes nothing.  Ages run on the agent's monotonic clock from the moment a handshake was first seen, so a
  wall-clock jump does not age (or rejuvenate) a tunnel.
- ``ipsec``: strongSwan's IKE_SA and CHILD_SA (read over VICI at start, at every ``ike-updown``/``child-updown``
  event and every ``interval``).  Up while the IKE_SA is ESTABLISHED and the CHILD_SA INSTALLED; down otherwise.
  A rekey (a new CHILD_SA, ``ike-rekey``/``child-rekey``) changes nothing; its unique id counts it.
- ``unknown``: the device was never found, or could not be read (a socket missing, permission denied).  Never up:
  an egress held down by its tunnel stays down until the tunnel is read up again.  Never down either: probes
  still decide an egress whose tunnel cannot be read.

What a tunnel's state does to its egress (core/health.py): down takes the egress out of service at once, with no
probe rounds; up only lifts that block: probes must rise again, and hold-down and dampening apply as always.
Pure: facts and the time come in, a change of state goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bgpsteer.core.model import Tunnel

TunnelStatus = Literal["up", "down", "unknown"]


@dataclass(frozen=True, slots=True)
class TunnelFacts:
    """One reading of an egress's tunnel."""

    egress: str
    readable: bool  # False: it could not be read (why in ``detail``)
    present: bool = False  # the device (for WireGuard: and its peer) exists
    link_up: bool = False  # interface: the device's link is up
    # the latest handshake's identity (WireGuard: its wall-clock time; IPsec: the CHILD_SA's unique id; None: none)
    handshake_stamp: float | None = None
    handshake_age: float | None = None  # its age at the reading (WireGuard: on the reader's wall clock)
    detail: str = ""
    expires_in: float | None = None  # ipsec: seconds until the CHILD_SA's hard lifetime ends (a rekey comes first)


@dataclass(frozen=True, slots=True)
class TunnelChange:
    egress: str
    old: TunnelStatus
    new: TunnelStatus
    why: str


class TunnelState:
    def __init__(self, egress: str, tunnel: Tunnel, now: float) -> None:
        self.egress = egress
        self.tunnel = tunnel
        self.status: TunnelStatus = "unknown"
        self.since = now
        self.why = "not read yet"
        self.seen = False  # the device was present at least once
        self.stamp: float | None = None  # the latest handshake seen (its wall-clock time: an identity only)
        self._stamp_age = 0.0  # its age when first seen
        self._stamp_seen = now  # when (monotonic)
        self.handshakes = 0  # new handshakes seen: the first, then every rekey
        self.downs = 0
        self.expires_in: float | None = None  # ipsec: the CHILD_SA's remaining lifetime at the last reading

    def handshake_age(self, now: float) -> float | None:
        """Seconds since the latest handshake, on the agent's clock (None: none seen)."""
        if self.stamp is None:
            return None
        return self._stamp_age + max(0.0, now - self._stamp_seen)

    def observe(self, facts: TunnelFacts, now: float) -> TunnelChange | None:
        """One reading; the change of state it makes, if any."""
        status, why = self._verdict(facts, now)
        if status == self.status:
            self.why = why
            return None
        change = TunnelChange(self.egress, self.status, status, why)
        self.status, self.since, self.why = status, now, why
        if status == "down":
            self.downs += 1
        return change

    def _verdict(self, facts: TunnelFacts, now: float) -> tuple[TunnelStatus, str]:
        t = self.tunnel
        what = f"ipsec {t.ike}" + (f"/{t.child}" if t.child else "") if t.kind == "ipsec" else f"{t.kind} {t.device}"
        if not facts.readable:
            return "unknown", f"{what} cannot be read: {facts.detail}"
        self.expires_in = facts.expires_in
        if t.kind == "ipsec":
            self._saw(facts, now)
            return ("up", f"{what}: {facts.detail}") if facts.present else ("down", f"{what}: {facts.detail}")
        if not facts.present:
            if not self.seen:
                return "unknown", f"{what} not found{': ' + facts.detail if facts.detail else ''}"
            return "down", f"{what} is gone{': ' + facts.detail if facts.detail else ''}"
        self.seen = True
        if self.tunnel.kind == "interface":
            return ("up", f"{what} link up") if facts.link_up else ("down", f"{what} link down")
        self._saw(facts, now)
        age = self.handshake_age(now)
        if age is None:
            return "down", f"{what}: no handshake with its peer yet"
        if age > self.tunnel.reject_after:
            return "down", f"{what}: latest handshake {age:.0f}s ago, over {self.tunnel.reject_after:g}s"
        return "up", f"{what}: latest handshake {age:.0f}s ago"

    def _saw(self, facts: TunnelFacts, now: float) -> None:
        """A handshake (or CHILD_SA) not seen before: its age is taken once, then runs on the agent's clock."""
        if facts.handshake_stamp is not None and facts.handshake_stamp != self.stamp:
            self.stamp = facts.handshake_stamp
            self._stamp_age = max(0.0, facts.handshake_age or 0.0)
            self._stamp_seen = now
            self.handshakes += 1

    def key_too_old(self, now: float) -> bool:
        """No handshake (for WireGuard, a key rotation) for longer than the configured ``key_max_age``."""
        limit = self.tunnel.key_max_age
        age = self.handshake_age(now)
        return limit is not None and (age is None or age > limit)

    def as_dict(self, now: float) -> dict[str, object]:
        age = self.handshake_age(now)
        return {
            "kind": self.tunnel.kind,
            "device": self.tunnel.device,
            "status": self.status,
            "since": self.since,
            "why": self.why,
            "handshake_age": round(age, 1) if age is not None else None,
            "handshakes": self.handshakes,
            "downs": self.downs,
            "key_too_old": self.key_too_old(now),
            "sa_expires_in": self.expires_in,
        }
