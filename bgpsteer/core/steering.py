"""Egress steering state: health per egress, drain, fail static, next-hop routes.

Failover costs O(1) BGP work: every path via egress E is announced with E's
next-hop NH_E, and bgpsteer announces NH_E itself as a host route (next-hop
self) only while E is usable.  Withdrawing that one route makes the core
router invalidate every path through E at once and fall back to the paths it
already holds (docs/design.md; bench/failover.py measures it against FRR 8.4).

Fail static: when more probed egresses are down at once than
``steering.max_down`` allows (default: all of them but one), the probe host is
likelier broken than the world, so the last good set of next-hop routes
stays announced and an alarm is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.budget import BudgetState
from bgpsteer.core.config import Config
from bgpsteer.core.decision import DRAINED
from bgpsteer.core.events import Announce, Effect, EgressChanged, Log, Withdraw
from bgpsteer.core.health import EgressHealth, Transition
from bgpsteer.core.measure import EgressStats, Sample
from bgpsteer.core.model import DEFAULT_SCOPE, AppClass, Egress, Probe, Scope, Steering, default
from bgpsteer.core.sla import SlaState
from bgpsteer.core.tunnel import TunnelFacts, TunnelState


def nh_routes(e: Egress) -> list[tuple[int, str, Attrs]]:
    """(afi, host route, attributes) for each next-hop of the egress: it resolves via the gateway."""
    out = [(4, f"{e.next_hop}/32", Attrs(next_hop=e.gateway, origin="igp"))]
    if e.next_hop6:
        out.append((6, f"{e.next_hop6}/128", Attrs(next_hop=e.gateway6, origin="igp")))
    return out


def max_down(steering: Steering, probed: Collection[str]) -> int:
    """How many probed egresses may be down at once before fail static holds (default: all of them but one)."""
    return steering.max_down if steering.max_down is not None else len(probed) - 1


def default_wanted(
    steering: Steering, probed: Collection[str], healthy: set[str], in_service: set[str], last_good: set[str]
) -> tuple[set[str], bool]:
    """The fail-static rule, once (the agent's steering and simulate's prediction): the egresses the default
    sessions announce, and whether fail static holds.  More probed egresses down at once than ``max_down`` means
    the prober is likelier broken than the network: keep what is in service (after a restart, with nothing
    announced yet: the last good set restored from the state file)."""
    down = [eid for eid in probed if eid not in healthy]
    if steering.fail_static and probed and len(down) > max_down(steering, probed):
        return set(in_service) or set(last_good), True
    return set(healthy), False


def class_wanted(app_class: AppClass, fit: set[str], base: set[str], in_service: set[str]) -> tuple[set[str], bool]:
    """A class's fail-static rule, once: the egresses fitting its SLA; when none does (and the class keeps fail
    static) the ones in service for it that are still in service at all, else all of those (a degraded path beats
    none).  Returns them and whether the class is holding."""
    if fit or not base or not app_class.fail_static:
        return fit, False
    return (in_service & base) or set(base), True


class SteeringState:
    def __init__(self, config: Config, now: float, next_decision: Callable[[], int]) -> None:
        self._next_decision = next_decision
        self.health: dict[str, EgressHealth] = {}
        self.stats: dict[str, EgressStats] = {}
        self.tunnels: dict[str, TunnelState] = {}  # egresses with a tunnel
        self.drained: set[str] = set()
        # scope -> egresses whose next-hop routes are announced there
        self.in_service: dict[Scope, set[str]] = {DEFAULT_SCOPE: set()}
        self.sla = SlaState((), [], now)  # SLA fit per (application class, egress)
        self.class_static: set[str] = set()  # classes holding their last good set (no egress fits)
        self.fail_static = False
        self.last_good: set[str] = (
            set()
        )  # restored from before a restart: what fail static keeps when nothing is announced yet
        self.started = False  # next-hop routes are sent only once the agent has started
        self.egresses: dict[str, Egress] = {}
        self.budget: BudgetState | None = None
        self.configure(config, now)

    def configure(self, config: Config, now: float) -> list[Effect]:
        """Adopt a (re)loaded config; withdraw next-hop routes of egresses removed or renumbered."""
        effects: list[Effect] = []
        new = {e.id: e for e in config.egresses}
        for scope, egresses in self.in_service.items():
            for eid in sorted(egresses):
                old = self.egresses[eid]
                if eid not in new or nh_routes(new[eid]) != nh_routes(old) or new[eid].path_id != old.path_id:
                    effects += [Withdraw(afi, old.path_id, [route], scope) for afi, route, _ in nh_routes(old)]
                    egresses.discard(eid)
        names = {c.name for c in config.app_classes}
        for scope in [s for s in self.in_service if s.app_class is not None and s.app_class not in names]:
            for eid in sorted(self.in_service.pop(scope)):
                e = self.egresses[eid]
                effects += [Withdraw(afi, e.path_id, [route], scope) for afi, route, _ in nh_routes(e)]
        self.class_static &= names
        old_health, old_stats, old_tunnels = self.health, self.stats, self.tunnels
        self.config = config
        self.egresses = {e.id: e for e in config.egresses}
        self.health = {}
        self.stats = {}
        self.tunnels = {}
        for e in config.egresses:
            h = old_health.get(e.id)
            if h is None:
                h = EgressHealth(e.id, e.health, now)
            h.policy = e.health
            self.health[e.id] = h
            if e.tunnel is not None:
                t = old_tunnels.get(e.id)
                self.tunnels[e.id] = t if t is not None and t.tunnel == e.tunnel else TunnelState(e.id, e.tunnel, now)
            elif h.blocked is not None:
                h.tunnel_up()  # its tunnel was taken out of the config: nothing holds it down any more
            window = e.probe.window if e.probe else default(Probe, "window")
            self.stats[e.id] = old_stats.get(e.id) or EgressStats(window)
        self.drained &= set(self.egresses)
        self.sla = SlaState(config.app_classes, list(self.egresses), now, self.sla)
        budget = config.steering.move_budget
        if budget is None:
            self.budget = None
        elif self.budget is None or self.budget.budget != budget:
            self.budget = BudgetState(budget)
        return effects + (self._after([], now) if self.started else [])

    @property
    def probed(self) -> list[str]:
        return [e.id for e in self.config.egresses if e.probe is not None]

    @property
    def in_service_default(self) -> set[str]:
        """Egresses in service for sessions without a class (health only)."""
        return self.in_service[DEFAULT_SCOPE]

    def usable(self, egress: str, scope: Scope = DEFAULT_SCOPE) -> bool:
        return egress in self.in_service.get(scope, set())

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
        detail = f"{answered}/{len(e.probe.targets)} targets answered, need {e.probe.min_up}" + (
            f" ({'; '.join(failures)})" if failures else ""
        )
        t = self.health[egress].observe(good, now, detail)
        if t is not None and t.old == "down":
            # the loss window is full of the outage: left there, a class would leave the repaired egress rounds
            # after it came back, and stay off for a whole window (measured in the data-plane lab: 100 s)
            stats.restart_window()
        ts = [t] if t else []
        if self.sla.app_classes:
            healthy = {eid for eid, h in self.health.items() if h.usable}
            summaries = {eid: st.summary() for eid, st in self.stats.items()}
            ts += self.sla.observe(egress, summaries, healthy, now)
        return self._after(ts, now)

    def tunnel(self, facts: TunnelFacts, now: float) -> list[Effect]:
        """A reading of an egress's tunnel: down takes the egress out at once; up only lets probes bring it back."""
        state = self.tunnels.get(facts.egress)
        if state is None:
            return [Log("warning", "tunnel reading for an egress without a tunnel; ignored", {"egress": facts.egress})]
        change = state.observe(facts, now)
        if change is None:
            return []
        log = Log(
            "warning" if change.new == "down" else "info",
            f"egress {facts.egress} tunnel {change.old} -> {change.new}: {change.why}",
            {"egress": facts.egress, "tunnel": change.new},
        )
        h = self.health[facts.egress]
        if change.new == "up":
            h.tunnel_up()
        if change.new != "down":
            return [log]
        t = h.tunnel_down(now, change.why)
        return [log, *self._after([t] if t is not None else [], now)]

    def tick(self, now: float) -> list[Effect]:
        """Time passing: hold-downs and dampening that expire without a probe round."""
        ts = [t for h in self.health.values() if (t := h.tick(now)) is not None]
        ts += self.sla.tick(now)
        return self._after(ts, now)

    def assume_down(self, egress: str, now: float) -> list[Effect]:
        """What-if input (policy tests, no probes): the egress counts as failed, as its probes would have found."""
        h = self.health[egress]
        if h.state == "down":
            return []
        return self._after([h.assume("down", now, "assumed down (policy test)")], now)

    def drain(self, egress: str, on: bool) -> Log:
        (self.drained.add if on else self.drained.discard)(egress)
        what = f"drained: paths re-announced with {DRAINED}" if on else "undrained"
        return Log("info", f"egress {egress} {what}", {"egress": egress})

    # -- outputs ---------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        """Announce the next-hop routes of every egress that is usable now."""
        self.started = True
        return self._after([], now)

    def _wanted(self) -> tuple[set[str], Effect | None]:
        healthy = {eid for eid, h in self.health.items() if h.usable}
        probed = self.probed
        wanted, static = default_wanted(self.config.steering, probed, healthy, self.in_service_default, self.last_good)
        alarm: Effect | None = None
        if static and not self.fail_static:
            down = sorted(eid for eid in probed if eid not in healthy)
            alarm = Log(
                "error",
                f"FAIL STATIC: {len(down)} of {len(probed)} probed egresses down at once "
                f"(max_down {max_down(self.config.steering, probed)}); "
                "the probe host is likelier broken than the network: keeping the last good announcements",
                {"down": ",".join(down)},
            )
        elif self.fail_static and not static:
            alarm = Log("warning", "fail static cleared: probes agree with the network again", {})
        self.fail_static = static
        return wanted, alarm

    def _wanted_classes(self, base: set[str]) -> tuple[dict[str, set[str]], list[Effect]]:
        """Per class: the egresses in service for its sessions (in service at all, and fitting its SLA)."""
        out: dict[str, set[str]] = {}
        alarms: list[Effect] = []
        for name, c in self.sla.app_classes.items():
            fit = {e for e in base if self.sla.fits(name, e)}
            out[name], holding = class_wanted(c, fit, base, self.in_service.get(Scope(name), set()))
            if holding and name not in self.class_static:
                self.class_static.add(name)
                alarms.append(
                    Log(
                        "error",
                        f"class {name}: FAIL STATIC: no egress meets its SLA; keeping {', '.join(sorted(out[name]))} "
                        "(a degraded path beats none)",
                        {"class": name},
                    )
                )
            elif not holding and name in self.class_static:
                self.class_static.discard(name)
                alarms.append(
                    Log("warning", f"class {name}: an egress meets the SLA again; fail static cleared", {"class": name})
                )
        return out, alarms

    def _after(self, transitions: list[Transition], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for t in transitions:
            what = "health" if t.app_class is None else f"SLA fit for class {t.app_class}"
            effects.append(
                Log(
                    "warning" if t.new == "down" else "info",
                    f"egress {t.egress} {what} {t.old} -> {t.new}: {t.reason}",
                    {"egress": t.egress},
                )
            )
        wanted, alarm = self._wanted()
        if alarm is not None:
            effects.append(alarm)
        per_class, alarms = self._wanted_classes(wanted)
        effects += alarms
        if not self.started:
            return effects
        scopes = {DEFAULT_SCOPE: wanted, **{Scope(name): fit for name, fit in per_class.items()}}
        if self.budget is not None:
            for name in per_class:
                have = self.in_service.get(Scope(name), set())
                scopes[Scope(name)], newly = self.budget.apply(name, have, per_class[name], wanted, now)
                effects += [Log("warning", f"HELD: {h.reason}", {"class": name, "egress": h.egress}) for h in newly]
        for t in transitions:
            in_service = t.egress in scopes.get(Scope(t.app_class), set())
            held = in_service and t.new != "up" and (self.fail_static or t.app_class in self.class_static)
            why = t.reason + ("; FAIL STATIC: kept in service" if held else "")
            if self.budget is not None and t.app_class is not None and (t.app_class, t.egress) in self.budget.held:
                why += "; HELD: " + self.budget.held[(t.app_class, t.egress)].reason
            effects.append(
                EgressChanged(self._next_decision(), now, t.egress, t.old, t.new, in_service, why, t.app_class)
            )
        for scope, want in scopes.items():
            have = self.in_service.get(scope, set())
            where = f" for class {scope.app_class}" if scope.app_class else ""
            for eid in sorted(want - have):
                e = self.egresses[eid]
                effects += [Announce(afi, e.path_id, attrs, [route], scope) for afi, route, attrs in nh_routes(e)]
                effects.append(
                    Log("info", f"egress {eid} in service{where}: next-hop route announced", {"egress": eid})
                )
            for eid in sorted(have - want):
                e = self.egresses[eid]
                effects += [Withdraw(afi, e.path_id, [route], scope) for afi, route, _ in nh_routes(e)]
                effects.append(
                    Log(
                        "warning",
                        f"egress {eid} out of service{where}: next-hop route withdrawn, the core fails over to its "
                        "backup paths",
                        {"egress": eid},
                    )
                )
            self.in_service[scope] = set(want)
        return effects

    def routes(self) -> Iterator[tuple[str, int, Attrs]]:
        """The next-hop routes announced now, in any scope: (prefix, path id, attrs)."""
        for eid in sorted(set().union(*self.in_service.values())):
            e = self.egresses[eid]
            for _, route, attrs in nh_routes(e):
                yield route, e.path_id, attrs

    def persist(self, now: float) -> dict[str, object]:
        """Health, dampening and drain per egress: what a restarted agent must not forget (state_dir)."""
        return {
            "drained": sorted(self.drained),
            "health": {eid: h.persist(now) for eid, h in self.health.items()},
            "in_service": {scope.app_class or "": sorted(eids) for scope, eids in self.in_service.items()},
        }

    def restore(self, data: dict[str, object], now: float) -> list[Effect]:
        """Adopt persisted state before start(): egresses no longer configured are ignored.  ``now``: the clock's
        reading when it was saved (see EgressHealth.restore)."""
        if self.started:
            raise RuntimeError("restore before start")
        effects: list[Effect] = []
        drained = data.get("drained")
        if isinstance(drained, list):
            self.drained = {e for e in drained if isinstance(e, str) and e in self.egresses}
        health = data.get("health")
        if isinstance(health, dict):
            for eid, h in health.items():
                if eid in self.health and isinstance(h, dict):
                    self.health[eid].restore(h, now)
        in_service = data.get("in_service")
        if isinstance(in_service, dict) and isinstance(in_service.get(""), list):
            # fail static keeps "the last good set": after a restart that is the set announced before it
            self.last_good = {e for e in in_service[""] if isinstance(e, str) and e in self.egresses}
        down = sorted(eid for eid, h in self.health.items() if not h.usable)
        if down or self.drained:
            effects.append(
                Log(
                    "info",
                    "restored egress state from before the restart",
                    {"not_in_service": ",".join(down) or "-", "drained": ",".join(sorted(self.drained)) or "-"},
                )
            )
        return effects

    def route(self, prefix: str, path_id: int, scope: Scope | None) -> Attrs | None:
        """The next-hop route announced now for this prefix and path id in the scope (None: in any scope)."""
        scopes = list(self.in_service) if scope is None else [scope]
        for eid in set().union(*(self.in_service.get(sc, set()) for sc in scopes)):
            e = self.egresses[eid]
            if e.path_id == path_id:
                for _, route, attrs in nh_routes(e):
                    if route == prefix:
                        return attrs
        return None
