"""Egress health: a pure state machine per egress, driven by probe rounds and the clock.

    up --(fall bad rounds in a row)--> down --(rise good rounds)--> recovering
    recovering --(hold_down seconds, still good, not suppressed)--> up
    recovering --(a bad round)--> down

An egress's tunnel (core/tunnel.py) going down takes it down at once, from any state, and blocks it there:
while blocked, every probe round counts as bad.  The tunnel coming up only lifts the block: the probes must rise
again and the hold-down must pass.

Each up -> down transition adds dampening penalty; the penalty halves every
half_life seconds; while it is above ``suppress`` (until it decays below
``reuse``) the egress is held down however good its probes look.  Time comes
in as ``now``; transitions go out as return values.

An egress starts ``up``: a restarted agent must not withdraw everything until
probes prove it right (fall rounds later it knows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from bgpsteer.core.model import Health

State = Literal["up", "down", "recovering"]


@dataclass(frozen=True, slots=True)
class Transition:
    egress: str
    old: State
    new: State
    reason: str
    app_class: str | None = None  # None: the egress's health; else its SLA fit for this application class


class EgressHealth:
    def __init__(self, egress: str, policy: Health, now: float, app_class: str | None = None) -> None:
        self.egress = egress
        self.app_class = app_class
        self.policy = policy
        self.state: State = "up"
        self.since = now
        self.good = 0  # consecutive good rounds
        self.bad = 0  # consecutive bad rounds
        self.penalty = 0.0
        self._penalty_at = now
        self.suppressed = False
        self.flaps = 0
        self.blocked: str | None = None  # why its tunnel holds it down (None: it does not)

    @property
    def usable(self) -> bool:
        return self.state == "up"

    def current_penalty(self, now: float) -> float:
        d = self.policy.dampening
        if d is None or self.penalty == 0.0:
            return 0.0
        return float(self.penalty * 0.5 ** (max(0.0, now - self._penalty_at) / d.half_life))

    def _penalize(self, now: float) -> None:
        d = self.policy.dampening
        if d is None:
            return
        self.penalty = self.current_penalty(now) + d.penalty
        self._penalty_at = now
        if self.penalty >= d.suppress:
            self.suppressed = True

    def _update_suppression(self, now: float) -> None:
        d = self.policy.dampening
        if self.suppressed and d is not None and self.current_penalty(now) < d.reuse:
            self.suppressed = False

    def _go(self, new: State, now: float, reason: str) -> Transition:
        t = Transition(self.egress, self.state, new, reason, self.app_class)
        self.state, self.since = new, now
        return t

    def observe(self, good: bool, now: float, detail: str = "") -> Transition | None:
        """One probe round's verdict for the egress; returns the state change, if any."""
        p = self.policy
        if self.blocked is not None:
            good, detail = False, f"tunnel down: {self.blocked}"
        if good:
            self.good, self.bad = self.good + 1, 0
        else:
            self.bad, self.good = self.bad + 1, 0
        self._update_suppression(now)
        if self.state == "up":
            if self.bad >= p.fall:
                self.flaps += 1
                self._penalize(now)
                return self._go(
                    "down",
                    now,
                    f"{self.bad} bad probe rounds in a row (fall {p.fall}){': ' + detail if detail else ''}",
                )
            return None
        if self.state == "down":
            if self.good >= p.rise:
                return self._go(
                    "recovering",
                    now,
                    f"{self.good} good probe rounds in a row (rise {p.rise}); hold-down {p.hold_down:g}s",
                )
            return None
        # recovering
        if not good:
            return self._go("down", now, f"probe round failed during hold-down{': ' + detail if detail else ''}")
        return self.tick(now)

    def tunnel_down(self, now: float, why: str) -> Transition | None:
        """The egress's tunnel went down: down at once (a flap when it was up), and held there."""
        self.blocked = why
        self.good = 0
        if self.state == "down":
            return None
        if self.state == "up":
            self.flaps += 1
            self._penalize(now)
        return self._go("down", now, f"tunnel down: {why}")

    def tunnel_up(self) -> None:
        """The tunnel is up again: the probes may bring the egress back (rise, then hold-down)."""
        self.blocked = None

    def assume(self, state: State, now: float, reason: str) -> Transition:
        """A state given, not measured (what-if: policy tests)."""
        return self._go(state, now, reason)

    def tick(self, now: float) -> Transition | None:
        """Let time pass: finish a hold-down (or a dampening suppression) that has run out."""
        self._update_suppression(now)
        if self.state == "recovering" and now - self.since >= self.policy.hold_down and not self.suppressed:
            return self._go(
                "up", now, f"recovered and stable for {now - self.since:.1f}s (hold-down {self.policy.hold_down:g}s)"
            )
        return None

    def persist(self, now: float) -> dict[str, object]:
        """What must survive a restart: an egress that was down stays down until its probes bring it back.
        Times are kept as ages (seconds before ``now``): the clock is monotonic, and restarts at a reboot."""
        return {
            "state": self.state,
            "since_age": now - self.since,
            "good": self.good,
            "bad": self.bad,
            "penalty": self.penalty,
            "penalty_age": now - self._penalty_at,
            "suppressed": self.suppressed,
            "flaps": self.flaps,
            "tunnel_down": self.blocked,
        }

    def restore(self, d: dict[str, object], now: float) -> None:
        """Adopt persisted state; ``now`` is the clock's reading at the moment the state was saved (the caller
        takes off the time the agent was not running).  A malformed record leaves the defaults (a fresh egress starts
        up)."""
        state = d.get("state")
        if state not in ("up", "down", "recovering"):
            return
        nums = [d.get(k) for k in ("since_age", "good", "bad", "penalty", "penalty_age", "flaps")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in nums):
            return
        age, good, bad, penalty, penalty_age, flaps = (float(v) for v in nums)  # type: ignore[arg-type]
        self.state = state
        self.since, self._penalty_at = now - max(0.0, age), now - max(0.0, penalty_age)
        self.good, self.bad, self.penalty, self.flaps = int(good), int(bad), max(0.0, penalty), int(flaps)
        self.suppressed = bool(d.get("suppressed"))
        blocked = d.get("tunnel_down")
        self.blocked = blocked if isinstance(blocked, str) else None

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "state": self.state,
            "since": self.since,
            "good_rounds": self.good,
            "bad_rounds": self.bad,
            "penalty": round(self.current_penalty(now), 1),
            "suppressed": self.suppressed,
            "flaps": self.flaps,
            "tunnel_down": self.blocked,
        }
