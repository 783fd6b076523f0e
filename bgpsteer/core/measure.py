"""Live measurements of one probe target: loss, latency, jitter.

Pure: probe results come in with the time they were taken; nothing here
sends or waits.  Loss is over a sliding window of the last N samples;
latency is smoothed (EWMA, 1/8 gain as TCP's SRTT); jitter is the RFC 3550
estimator (mean deviation of successive RTT differences, 1/16 gain).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    """One probe's outcome: rtt in milliseconds when answered, else the reason it failed."""

    target: str
    ok: bool
    rtt_ms: float | None = None
    reason: str = ""


class TargetStats:
    def __init__(self, window: int) -> None:
        self.window: deque[bool] = deque(maxlen=window)
        self.latency_ms: float | None = None
        self.jitter_ms = 0.0
        self._last_rtt: float | None = None
        self.last_reason = ""
        self.sent = 0
        self.lost = 0

    def add(self, s: Sample) -> None:
        self.sent += 1
        self.window.append(s.ok)
        if not s.ok or s.rtt_ms is None:
            self.lost += 1
            self.last_reason = s.reason or "no answer"
            return
        self.last_reason = ""
        rtt = s.rtt_ms
        self.latency_ms = rtt if self.latency_ms is None else self.latency_ms + (rtt - self.latency_ms) / 8
        if self._last_rtt is not None:
            self.jitter_ms += (abs(rtt - self._last_rtt) - self.jitter_ms) / 16
        self._last_rtt = rtt

    @property
    def loss_pct(self) -> float:
        if not self.window:
            return 0.0
        return 100.0 * self.window.count(False) / len(self.window)

    def as_dict(self) -> dict[str, object]:
        return {
            "loss_pct": round(self.loss_pct, 2),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "jitter_ms": round(self.jitter_ms, 3),
            "sent": self.sent,
            "lost": self.lost,
            "last_failure": self.last_reason,
        }


def median(values: list[float]) -> float | None:
    if not values:
        return None
    v = sorted(values)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


class EgressStats:
    """Per-target stats of one egress, and their aggregate: median over targets."""

    def __init__(self, window: int) -> None:
        self._window = window
        self.targets: dict[str, TargetStats] = {}

    def add(self, s: Sample) -> None:
        t = self.targets.get(s.target)
        if t is None:
            t = self.targets[s.target] = TargetStats(self._window)
        t.add(s)

    def restart_window(self) -> None:
        """Forget the loss window (not the counters, not the smoothed latency): after an outage, the repaired path is
        judged on what it does now, not on the outage's losses."""
        for t in self.targets.values():
            t.window.clear()

    def summary(self) -> dict[str, float | None]:
        ts = list(self.targets.values())
        return {
            "latency_ms": median([t.latency_ms for t in ts if t.latency_ms is not None]),
            "jitter_ms": median([t.jitter_ms for t in ts]),
            "loss_pct": median([t.loss_pct for t in ts]),
            "samples": float(min((len(t.window) for t in ts), default=0)),  # in the loss window
        }
