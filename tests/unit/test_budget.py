"""The move budget: chosen class moves are limited per interval; dead-egress failover is never held."""

from __future__ import annotations

import itertools
import random

import pytest

from bgpsteer.config.loader import parse
from bgpsteer.core.budget import BudgetState
from bgpsteer.core.events import Log
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import MoveBudget, Scope
from bgpsteer.core.steering import SteeringState
from bgpsteer.core.view import CoreView
from tests.unit.helpers import ACCEPT_ALL

EGRESS = (
    "  - {{id: {id}, region: r{n}, jurisdiction: EU, next_hop: 10.255.0.{n},\n"
    "     probe: {{type: udp, port: 7, targets: [192.0.2.{n}], window: 500}},\n"
    "     health: {{rise: 1, fall: 1, hold_down: 0, dampening: false}}}}\n"
)
IDS = ("fra", "ams", "lon")
TEXT = (
    "agent: {local_asn: 65000, router_id: 10.0.0.1}\negresses:\n"
    + "".join(EGRESS.format(id=e, n=i + 1) for i, e in enumerate(IDS))
    + "cloud_peers:\n  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: x}\n"
    + "core_routers:\n  - {name: core1, address: 10.0.0.2, asn: 65000}\n"
    + "  - {name: rt, address: 10.0.8.2, asn: 65000, class: realtime}\n"
    + "classes:\n  - {name: realtime, sla: {latency_ms: 40}, rise: 1, fall: 1, hold_down: 0}\n"
    + "steering: {max_down: 2, move_budget: {moves: 1, interval: 60}}\n"
    + ACCEPT_ALL
)


def state() -> SteeringState:
    counter = itertools.count(1)
    s = SteeringState(parse(TEXT, "t.yaml"), 0.0, lambda: next(counter))
    s.start(0.0)
    return s


def rounds(s: SteeringState, egress: str, ms: float | None, now: float, n: int = 8) -> list[Log]:
    out = []
    k = IDS.index(egress) + 1
    for i in range(n):
        sample = Sample(f"192.0.2.{k}", ms is not None, ms, "" if ms is not None else "timeout")
        out += [e for e in s.probe_round(egress, [sample], now + i * 0.01) if isinstance(e, Log)]
    return out


def test_a_second_sla_move_in_the_interval_is_held_and_goes_once_there_is_room() -> None:
    s = state()
    for e in IDS:
        rounds(s, e, 10.0, 0.0, 25)
    rt = Scope("realtime")
    assert s.in_service[rt] == set(IDS)
    rounds(s, "fra", 90.0, 1.0)  # first move: fra leaves realtime
    assert s.in_service[rt] == {"ams", "lon"}
    logs = rounds(s, "ams", 90.0, 2.0)  # second move within 60 s: held
    assert s.in_service[rt] == {"ams", "lon"}
    assert [m.message for m in logs if m.message.startswith("HELD")] == [
        "HELD: move budget of class realtime: 1 per 60s spent; egress ams would leave its sessions"
    ]
    assert [(h.egress, h.action) for h in s.budget.held.values()] == [("ams", "leave")]  # type: ignore[union-attr]
    s.tick(30.0)
    assert s.in_service[rt] == {"ams", "lon"}  # still inside the interval
    s.tick(61.5)
    assert s.in_service[rt] == {"lon"}  # room again: the held move goes
    assert not s.budget.held  # type: ignore[union-attr]


def test_failover_from_a_dead_egress_is_never_held() -> None:
    s = state()
    for e in IDS:
        rounds(s, e, 10.0, 0.0, 25)
    rounds(s, "fra", 90.0, 1.0)  # spends the budget
    rounds(s, "ams", None, 2.0, 1)  # ams dies: it leaves realtime at once, budget or not
    assert s.in_service[Scope("realtime")] == {"lon"}


def test_a_class_left_without_any_egress_gets_one_back_at_once() -> None:
    b = BudgetState(MoveBudget(moves=1, interval=60))
    after, _ = b.apply("rt", {"a"}, {"b"}, {"a", "b"}, 0.0)  # leave a: spends; enter b: forced (else none)
    assert after == {"b"}


@pytest.mark.parametrize("seed", range(25))
def test_chosen_moves_per_interval_never_exceed_the_budget(seed: int) -> None:
    """Random fits and deaths: an alive egress leaving (a chosen move) stays within the budget per interval, plus
    at most the entries it forced no more than it may; a dead egress never stays a moment."""
    rng = random.Random(seed)
    budget = MoveBudget(moves=2, interval=10)
    b = BudgetState(budget)
    have = {"a", "b", "c"}
    leaves: list[float] = []
    for step in range(300):
        now = step * 0.5
        alive = {e for e in ("a", "b", "c") if rng.random() > 0.1}
        want = {e for e in alive if rng.random() > 0.4}
        after, _ = b.apply("rt", have, want, alive, now)
        assert not (have - alive) & after  # failover from a dead egress is immediate
        assert after <= have | want  # nothing unwanted enters
        leaves += [now] * len((have - after) & alive)
        have = after
    for i, t in enumerate(leaves):
        assert len([u for u in leaves[i:] if u - t < budget.interval]) <= budget.moves, (seed, t)


def test_simulate_shows_what_the_budget_would_hold() -> None:
    from bgpsteer.core.engine import Engine

    eng = Engine(parse(TEXT, "t.yaml"))
    eng.start(0.0)
    for e in IDS:
        k = IDS.index(e) + 1
        for i in range(25):
            eng.probe_round(e, [Sample(f"192.0.2.{k}", True, 10.0)], i * 0.01)
    sim = CoreView(eng).simulate(set(), 1.0, degrade={"fra": {"latency_ms": 90.0}, "ams": {"latency_ms": 90.0}})
    rt = sim["classes"]["realtime"]
    assert [(h["egress"], h["action"]) for h in rt["held_by_budget"]] == [("fra", "leave")]
    assert rt["in_service_after"] == ["fra", "lon"]  # ams leaves (the budget's one move), fra is held
    assert CoreView(eng).held_moves() == []  # a prediction holds nothing
