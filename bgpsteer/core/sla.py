"""Application classes: which egresses meet each class's SLA, with noise immunity.

Per (class, egress) a health state machine (health.py) is fed one verdict per
probe round of the egress: does its smoothed latency / loss / jitter fit the
class's SLA (and, for the performance objective, is its latency within
``slack_pct`` of the best healthy egress)?  The class's own rise / fall /
hold-down keep noisy measurements from moving traffic.  A class session on the
core then gets the next-hop route of an egress only while that egress is
healthy *and* fits the class, so a degraded egress leaves the realtime VRF in
O(1) while bulk traffic stays on it.
"""

from __future__ import annotations

from collections.abc import Mapping

from bgpsteer.core.health import EgressHealth, Transition
from bgpsteer.core.model import AppClass, Health

MIN_LOSSES = 3  # a loss ratio is judged only over enough samples to hold this many losses
HYSTERESIS = 1.1  # an egress that fits may drift 10% past a threshold before it stops fitting
WARM_UP = (
    20  # samples before an egress is judged: the smoothed latency still carries its first probes (ARP, cold caches)
)


def sla_fit(
    c: AppClass, m: Mapping[str, float | None], best_latency: float | None, fitting: bool = False
) -> tuple[bool, str]:
    """Whether measurements m (latency_ms, loss_pct, jitter_ms) fit class c, and why not.

    ``fitting``: the egress fits now; its thresholds are then 10% looser, so a
    measurement hovering at a threshold does not flap the class."""
    lat, loss, jit = m.get("latency_ms"), m.get("loss_pct"), m.get("jitter_ms")
    samples = m.get("samples") or 0.0
    if samples < WARM_UP:
        return True, f"warming up ({samples:.0f} of {WARM_UP} samples): not judged yet"
    if lat is None:
        return False, "no answer yet"
    k = HYSTERESIS if fitting else 1.0
    misses = []
    if c.max_latency_ms is not None and lat > c.max_latency_ms * k:
        misses.append(f"latency {lat:.1f} ms > {c.max_latency_ms * k:g}")
    # a loss ratio over fewer samples than 3 losses' worth is noise (one loss in 30 is 3.3%): not judged yet
    if (
        c.max_loss_pct is not None
        and loss is not None
        and samples * c.max_loss_pct / 100 >= MIN_LOSSES
        and loss > c.max_loss_pct * k
    ):
        misses.append(f"loss {loss:.1f}% > {c.max_loss_pct * k:g}")
    if c.max_jitter_ms is not None and jit is not None and jit > c.max_jitter_ms * k:
        misses.append(f"jitter {jit:.1f} ms > {c.max_jitter_ms * k:g}")
    if c.objective == "performance" and best_latency is not None:
        limit = (best_latency * (1 + c.slack_pct / 100) + c.slack_ms) * k
        if lat > limit:
            misses.append(
                f"latency {lat:.1f} ms more than {c.slack_pct:g}% + {c.slack_ms:g} ms above the best "
                f"({best_latency:.1f} ms)"
            )
    return (not misses), "; ".join(misses) or "within SLA"


class SlaState:
    def __init__(
        self, app_classes: tuple[AppClass, ...], egresses: list[str], now: float, old: SlaState | None = None
    ) -> None:
        self.app_classes = {c.name: c for c in app_classes}
        self.fit: dict[tuple[str, str], EgressHealth] = {}
        self.why: dict[tuple[str, str], str] = {}
        for c in app_classes:
            policy = Health(rise=c.rise, fall=c.fall, hold_down=c.hold_down, dampening=None)
            for e in egresses:
                key = (c.name, e)
                m = old.fit.get(key) if old else None
                if m is None:
                    m = EgressHealth(e, policy, now, c.name)
                m.policy = policy
                self.fit[key] = m
                self.why[key] = old.why.get(key, "") if old else ""

    def observe(
        self, egress: str, summaries: dict[str, dict[str, float | None]], healthy: set[str], now: float
    ) -> list[Transition]:
        """After a probe round of egress: re-judge it for every class."""
        out = []
        m = summaries[egress]
        lats = [s["latency_ms"] for e, s in summaries.items() if e in healthy and s["latency_ms"] is not None]
        best = min(lats) if lats else None
        for c in self.app_classes.values():
            fsm = self.fit[(c.name, egress)]
            good, why = sla_fit(c, m, best, fsm.state == "up")
            self.why[(c.name, egress)] = why
            t = fsm.observe(good, now, why)
            if t is not None:
                out.append(t)
        return out

    def tick(self, now: float) -> list[Transition]:
        return [t for m in self.fit.values() if (t := m.tick(now)) is not None]

    def fits(self, cls: str, egress: str) -> bool:
        return self.fit[(cls, egress)].usable
