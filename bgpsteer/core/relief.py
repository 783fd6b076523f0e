"""Relief of an overloaded egress: move the fewest prefixes, largest volume first, to their next egress.

Inputs come in as reports (``report``): an egress's measured utilization (Mbit/s: its interface counters, or what a
flow collector adds up) and per-prefix volumes (Mbit/s: flow data from the core).  Time comes in as ``now``; the
moves go out as return values.  The rules, once:

- an egress is overloaded while its utilization stays above ``threshold_pct`` of ``capacity_mbps`` for ``hold``
  seconds; then the prefixes it carries (it is their primary egress) are moved largest volume first, each to the
  next egress the core would use for it (in service, exported: compliance already left foreign egresses out), only
  where that egress stays at or below the threshold with the volume added, until the overloaded egress's projection
  falls below the threshold (or ``max_moves``);
- a moved prefix returns (smallest first) once its egress would stay below ``release_pct`` with it back, and not
  before ``hold`` seconds after its move: the gap between threshold and release, and the hold, keep it from
  oscillating;
- an egress gets no new moves within ``hold`` seconds of its last (its next utilization report must show the
  effect first), and a move is dropped when its origin egress leaves the prefix's paths (the prefix then goes
  where the core sends it anyway).

A projection is the last reported utilization, minus what moved away since that report, plus what moved in.

Each report says where it came from (``source``: "counter" for interface counters, "flow" for flow export,
"pushed" for ``bgpsteer load``) and how long it holds (``max_age``; None: until the next, as pushed numbers do).
A report older than that is unknown, never zero: its egress is not overloaded (nothing is moved off it on old
numbers) and is no target (nothing is moved onto an egress whose load is not known), and the views show no load
for it.  Volumes from flow export are replaced whole by each report (what it leaves out carried nothing) and
expire the same way: with the exporters silent, no prefix has a known volume and nothing is moved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bgpsteer.core.model import Egress, Relief


@dataclass(frozen=True, slots=True)
class Move:
    prefix: str
    source: str  # the overloaded egress it leaves
    target: str  # the egress it is moved to
    volume_mbps: float
    at: float
    reason: str


class ReliefState:
    def __init__(self, relief: Relief, egresses: Mapping[str, Egress]) -> None:
        self.relief = relief
        self.capacity = {eid: e.capacity_mbps for eid, e in egresses.items() if e.capacity_mbps}
        self.util: dict[str, tuple[float, float]] = {}  # egress -> (Mbit/s, reported at)
        self.source: dict[str, str] = {}  # egress -> where its utilization came from ("counter", "pushed")
        self.expires: dict[str, float] = {}  # egress -> when its report stops holding (absent: never)
        self.over_since: dict[str, float] = {}
        self.volumes: dict[str, float] = {}
        self.volume_source = "pushed"  # where the volumes came from ("pushed", "flow")
        self.volumes_expire: float | None = None  # when they stop holding (None: never)
        self.moved: dict[str, Move] = {}  # prefix -> its move
        self.last_move: dict[str, float] = {}  # egress -> time of the last move off it
        self.returned = 0

    def clone(self) -> ReliefState:
        """A copy to predict with (simulate): the running state is not touched."""
        c = ReliefState.__new__(ReliefState)
        c.relief, c.capacity, c.returned = self.relief, self.capacity, self.returned
        c.util, c.over_since, c.volumes = dict(self.util), dict(self.over_since), dict(self.volumes)
        c.source, c.expires = dict(self.source), dict(self.expires)
        c.volume_source, c.volumes_expire = self.volume_source, self.volumes_expire
        c.moved, c.last_move = dict(self.moved), dict(self.last_move)
        return c

    def report(
        self,
        utilization: Mapping[str, float],
        volumes: Mapping[str, float],
        now: float,
        source: str = "pushed",
        max_age: float | None = None,
    ) -> None:
        for eid, mbps in utilization.items():
            if eid not in self.capacity:
                continue
            self.util[eid] = (mbps, now)
            self.source[eid] = source
            if max_age is None:
                self.expires.pop(eid, None)
            else:
                self.expires[eid] = now + max_age
            if mbps > self.limit(eid):
                self.over_since.setdefault(eid, now)
            else:
                self.over_since.pop(eid, None)
        if source == "flow":
            # a flow report is the whole picture of its window: a prefix it leaves out carried nothing
            self.volumes = dict(volumes)
            self.volume_source, self.volumes_expire = source, None if max_age is None else now + max_age
        elif volumes:
            self.volumes.update(volumes)
            self.volume_source, self.volumes_expire = source, None

    def known_volumes(self, now: float | None) -> Mapping[str, float]:
        """The per-prefix volumes that hold at ``now`` (none once flow export has been silent too long: unknown)."""
        if now is not None and self.volumes_expire is not None and now > self.volumes_expire:
            return {}
        return self.volumes

    def limit(self, eid: str, pct: float | None = None) -> float:
        return self.capacity[eid] * (self.relief.threshold_pct if pct is None else pct) / 100

    def projected(self, eid: str) -> float:
        mbps, at = self.util.get(eid, (0.0, 0.0))
        for m in self.moved.values():
            if m.at >= at:
                mbps += m.volume_mbps if m.target == eid else -m.volume_mbps if m.source == eid else 0.0
        return mbps

    def fresh(self, eid: str, now: float | None) -> bool:
        """Its utilization is known at ``now`` (None: whenever it was reported)."""
        return eid in self.util and (now is None or now <= self.expires.get(eid, now))

    def share(self, eid: str, now: float | None = None) -> float | None:
        """Projected utilization as a percentage of capacity (None: no capacity, no report, or stale at now)."""
        if eid not in self.capacity or not self.fresh(eid, now):
            return None
        return 100 * self.projected(eid) / self.capacity[eid]

    def step(self, now: float, order: Callable[[str], list[str]]) -> tuple[list[Move], list[Move]]:
        """(moves, returns) now.  ``order(prefix)``: the egresses the core would use for the prefix without relief,
        best first, usable ones only."""
        returns = self._returns(now, order)
        moves: list[Move] = []
        r = self.relief
        for eid in [e for e in self.over_since if not self.fresh(e, now)]:
            del self.over_since[eid]  # unknown is not overloaded: it must be over again, for hold, on new numbers
        for eid in sorted(self.over_since):
            if now - self.over_since[eid] < r.hold or now - self.last_move.get(eid, -r.hold) < r.hold:
                continue
            for prefix, vol in sorted(self.known_volumes(now).items(), key=lambda pv: (-pv[1], pv[0])):
                if self.projected(eid) <= self.limit(eid) or len(moves) >= r.max_moves:
                    break
                if prefix in self.moved or vol <= 0:
                    continue
                usable = order(prefix)
                if not usable or usable[0] != eid:
                    continue  # not carried by this egress
                target = next(
                    (
                        t
                        for t in usable[1:]
                        if t in self.capacity and self.fresh(t, now) and self.projected(t) + vol <= self.limit(t)
                    ),
                    None,
                )
                if target is None:
                    continue  # nowhere with room (or no compliant egress at all): it stays
                share = self.share(eid) or 0.0
                m = Move(
                    prefix,
                    eid,
                    target,
                    vol,
                    now,
                    f"relief: egress {eid} at {share:.0f}% of {self.capacity[eid]:g} Mbit/s "
                    f"({self.source.get(eid, 'pushed')}; threshold {r.threshold_pct:g}% for {r.hold:g}s); "
                    f"{vol:.4g} Mbit/s ({self.volume_source}) moved to {target}",
                )
                self.moved[prefix] = m
                moves.append(m)
                self.last_move[eid] = now
        return moves, returns

    def _returns(self, now: float, order: Callable[[str], list[str]]) -> list[Move]:
        out = []
        for prefix, m in sorted(self.moved.items(), key=lambda pm: (pm[1].volume_mbps, pm[0])):
            if m.source not in order(prefix):
                del self.moved[prefix]  # its egress left the prefix's paths: nothing to return to
                out.append(m)
                continue
            if now - m.at < self.relief.hold:
                continue
            back = self.projected(m.source) + m.volume_mbps
            if back < self.limit(m.source, self.relief.release_pct):
                del self.moved[prefix]
                self.returned += 1
                out.append(m)
        return out
