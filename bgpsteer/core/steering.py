"""Egress steering state: health per egress, drain, fail static, next-hop routes.

Failover costs O(1) BGP work: every path via egress E is announced with E's
next-hop NH_E, and bgpsteer announces NH_E itself as a host route (next-hop
self) only while E is usable.  Withdrawing that one route makes the core
router invalidate every path through E at once and fall back to the paths it
already holds (DESIGN.md, measured against FRR 8.4).

Fail static: when more probed egresses are down at once than
``steering.max_down`` allows (default: all of them), the probe host is
likelier broken than the world, so the last good set of next-hop routes
stays announced and an alarm is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.events import Announce, Effect, EgressChanged, Log, Withdraw
from bgpsteer.core.health import EgressHealth, Transition
from bgpsteer.core.measure import EgressStats, Sample
from bgpsteer.core.model import Config, Egress


def nh_routes(e: Egress) -> list[tuple[int, str, Attrs]]:
    """(afi, host route, attributes) for each next-hop of the egress: it resolves via the gateway."""
    out = [(4, f"{e.next_hop}/32", Attrs(next_hop=e.gateway, origin="igp"))]
    if e.next_hop6:
        out.append((6, f"{e.next_hop6}/128", Attrs(next_hop=e.gateway6, origin="igp")))
    return out


class SteeringState:
    def __init__(self, config: Config, now: float, next_decision: Callable[[], int]) -> None:
        self._next_decision = next_decision
        self.health: dict[str, EgressHealth] = {}
        self.stats: dict[str, EgressStats] = {}
        self.drained: set[str] = set()
        self.announced: set[str] = set()  # egresses whose next-hop routes are announced
        self.fail_static = False
        self.started = False  # next-hop routes are sent only once the agent has started
        self.egresses: dict[str, Egress] = {}
        self.configure(config, now)

    def configure(self, config: Config, now: float) -> list[Effect]:
        """Adopt a (re)loaded config; withdraw next-hop routes of egresses removed or renumbered."""
        effects: list[Effect] = []
        new = {e.id: e for e in config.egresses}
        for eid in sorted(self.announced):
            old = self.egresses[eid]
            if eid not in new or nh_routes(new[eid]) != nh_routes(old) or new[eid].path_id != old.path_id:
                effects += [Withdraw(afi, old.path_id, [route]) for afi, route, _ in nh_routes(old)]
                self.announced.discard(eid)
        old_health, old_stats = self.health, self.stats
        self.config = config
        self.egresses = {e.id: e for e in config.egresses}
        self.health = {}
        self.stats = {}
        for e in config.egresses:
            h = old_health.get(e.id)
            if h is None:
                h = EgressHealth(e.id, e.health, now)
            h.policy = e.health
            self.health[e.id] = h
            window = e.probe.window if e.probe else 20
            self.stats[e.id] = old_stats.get(e.id) or EgressStats(window)
        self.drained &= set(self.egresses)
        return effects + (self._after([], now) if self.started else [])

    @property
    def probed(self) -> list[str]:
        return [e.id for e in self.config.egresses if e.probe is not None]

    def usable(self, egress: str) -> bool:
        return egress in self.announced

    # -- inputs ----------------------------------------------------------------

    def probe_round(self, egress: str, samples: Iterable[Sample], now: float) -> list[Effect]:
        """One round of probes through an egress: update stats and health, return effects."""
        e = self.egresses.get(egress)
        if e is None or e.probe is None:
            return [Log("warning", "probe results for an egress without probes; ignored", {"egress": egress})]
        stats = self.stats[egress]
        answered = 0
        failures = []
        for s in samples:
            stats.add(s)
            if s.ok:
                answered += 1
            else:
                failures.append(f"{s.target}: {s.reason or 'no answer'}")
        good = answered >= e.probe.min_up
        detail = f"{answered}/{len(e.probe.targets)} targets answered, need {e.probe.min_up}" + (f" ({'; '.join(failures)})" if failures else "")
        t = self.health[egress].observe(good, now, detail)
        return self._after([t] if t else [], now)

    def tick(self, now: float) -> list[Effect]:
        """Time passing: hold-downs and dampening that expire without a probe round."""
        ts = [t for h in self.health.values() if (t := h.tick(now)) is not None]
        return self._after(ts, now)

    def drain(self, egress: str, on: bool) -> Log:
        (self.drained.add if on else self.drained.discard)(egress)
        what = "drained: paths re-announced with GRACEFUL_SHUTDOWN (65535:0) and LOCAL_PREF 0" if on else "undrained"
        return Log("info", f"egress {egress} {what}", {"egress": egress})

    # -- outputs ---------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        """Announce the next-hop routes of every egress that is usable now."""
        self.started = True
        return self._after([], now)

    def _wanted(self) -> tuple[set[str], Effect | None]:
        healthy = {eid for eid, h in self.health.items() if h.usable}
        probed = self.probed
        down = [eid for eid in probed if eid not in healthy]
        limit = self.config.steering.max_down
        if limit is None:
            limit = len(probed) - 1
        if self.config.steering.fail_static and probed and len(down) > limit:
            alarm = None
            if not self.fail_static:
                self.fail_static = True
                alarm = Log("error", f"FAIL STATIC: {len(down)} of {len(probed)} probed egresses down at once (max_down {limit}); "
                                     "the probe host is likelier broken than the network: keeping the last good announcements",
                            {"down": ",".join(sorted(down))})
            return set(self.announced), alarm
        alarm = None
        if self.fail_static:
            self.fail_static = False
            alarm = Log("warning", "fail static cleared: probes agree with the network again", {})
        return healthy, alarm

    def _after(self, transitions: list[Transition], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for t in transitions:
            effects.append(Log("warning" if t.new == "down" else "info", f"egress {t.egress} health {t.old} -> {t.new}: {t.reason}", {"egress": t.egress}))
        wanted, alarm = self._wanted()
        if alarm is not None:
            effects.append(alarm)
        if not self.started:
            return effects
        for t in transitions:
            in_service = t.egress in wanted
            why = t.reason if in_service != (t.egress in self.announced) or not self.fail_static else t.reason + "; FAIL STATIC: kept in service"
            effects.append(EgressChanged(self._next_decision(), now, t.egress, t.old, t.new, in_service, why))
        for eid in sorted(wanted - self.announced):
            e = self.egresses[eid]
            effects += [Announce(afi, e.path_id, attrs, [route]) for afi, route, attrs in nh_routes(e)]
            effects.append(Log("info", f"egress {eid} in service: next-hop route announced", {"egress": eid}))
        for eid in sorted(self.announced - wanted):
            e = self.egresses[eid]
            effects += [Withdraw(afi, e.path_id, [route]) for afi, route, _ in nh_routes(e)]
            effects.append(Log("warning", f"egress {eid} out of service: next-hop route withdrawn, the core fails over to its backup paths",
                               {"egress": eid}))
        self.announced = wanted
        return effects

    def routes(self) -> Iterator[tuple[str, int, Attrs]]:
        """The next-hop routes announced now: (prefix, path id, attrs)."""
        for eid in sorted(self.announced):
            e = self.egresses[eid]
            for _, route, attrs in nh_routes(e):
                yield route, e.path_id, attrs

    def describe(self, egress: str, now: float) -> dict[str, object]:
        e = self.egresses[egress]
        return {
            "egress": egress,
            "health": self.health[egress].as_dict(now),
            "in_service": egress in self.announced,
            "drained": egress in self.drained,
            "fail_static": self.fail_static,
            "probe": None if e.probe is None else {"kind": e.probe.kind, "targets": list(e.probe.targets), "interval": e.probe.interval},
            "measured": self.stats[egress].summary(),
            "targets": {t: s.as_dict() for t, s in self.stats[egress].targets.items()},
        }
