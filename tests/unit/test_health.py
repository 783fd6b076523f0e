"""The egress health state machine on its own: transitions, dampening arithmetic, what survives a restart."""

from __future__ import annotations

import pytest

from bgpsteer.core.health import EgressHealth
from bgpsteer.core.model import Dampening, Health

NO_DAMPING = Health(rise=2, fall=2, hold_down=5.0, dampening=None)
DAMPED = Health(
    rise=1, fall=1, hold_down=0.0, dampening=Dampening(penalty=1000, half_life=10, suppress=1500, reuse=600)
)


def fail(h: EgressHealth, now: float, rounds: int) -> None:
    for _ in range(rounds):
        h.observe(False, now)


def test_transitions_carry_counts_and_detail() -> None:
    h = EgressHealth("fra", NO_DAMPING, 0.0, app_class="realtime")
    assert h.observe(False, 1.0, "loss 100%") is None
    t = h.observe(False, 2.0, "loss 100%")
    assert t is not None
    assert (t.egress, t.old, t.new, t.app_class) == ("fra", "up", "down", "realtime")
    assert t.reason == "2 bad probe rounds in a row (fall 2): loss 100%"
    assert (h.state, h.since, h.usable, h.flaps) == ("down", 2.0, False, 1)
    assert h.observe(True, 3.0) is None
    t = h.observe(True, 4.0)
    assert t is not None
    assert (t.old, t.new, t.reason) == ("down", "recovering", "2 good probe rounds in a row (rise 2); hold-down 5s")
    assert h.tick(8.9) is None  # 4.9 s of the 5 s hold-down
    t = h.tick(9.0)
    assert t is not None
    assert (t.old, t.new, t.reason) == ("recovering", "up", "recovered and stable for 5.0s (hold-down 5s)")
    assert h.usable


def test_a_bad_round_during_hold_down_goes_back_down_with_its_detail() -> None:
    h = EgressHealth("fra", NO_DAMPING, 0.0)
    fail(h, 1.0, 2)
    h.observe(True, 2.0)
    h.observe(True, 3.0)
    t = h.observe(False, 4.0, "rtt 300ms")
    assert t is not None
    assert (t.old, t.new, t.reason) == ("recovering", "down", "probe round failed during hold-down: rtt 300ms")
    assert h.flaps == 1  # only up -> down is a flap
    t2 = EgressHealth("x", NO_DAMPING, 0.0)
    fail(t2, 1.0, 2)
    t2.observe(True, 2.0)
    t2.observe(True, 3.0)
    back = t2.observe(False, 4.0)
    assert back is not None
    assert back.reason == "probe round failed during hold-down"


def test_good_rounds_in_recovering_finish_the_hold_down() -> None:
    h = EgressHealth("fra", NO_DAMPING, 0.0)
    fail(h, 1.0, 2)
    h.observe(True, 2.0)
    h.observe(True, 3.0)
    assert h.observe(True, 7.0) is None
    t = h.observe(True, 8.0)
    assert t is not None
    assert t.new == "up"


def test_penalty_adds_and_halves_every_half_life() -> None:
    h = EgressHealth("fra", DAMPED, 0.0)
    assert h.current_penalty(0.0) == 0.0
    h.observe(False, 0.0)  # up -> down: +1000
    assert h.current_penalty(0.0) == 1000.0
    assert h.current_penalty(10.0) == 500.0
    assert h.current_penalty(20.0) == 250.0
    assert h.current_penalty(-5.0) == 1000.0  # a clock reading before the penalty does not inflate it
    assert not h.suppressed  # 1000 < suppress 1500


def test_suppression_holds_a_good_egress_down_until_reuse() -> None:
    h = EgressHealth("fra", DAMPED, 0.0)
    h.observe(False, 0.0)  # down, 1000
    h.observe(True, 1.0)  # recovering
    assert h.tick(1.0) is not None  # hold-down 0: up
    h.observe(False, 2.0)  # 1000 * 0.5**0.2 + 1000 = 1870.6 >= 1500: suppressed
    assert h.suppressed
    assert h.current_penalty(2.0) == pytest.approx(1000 * 0.5**0.2 + 1000)
    h.observe(True, 3.0)
    assert h.state == "recovering"
    assert h.tick(10.0) is None  # 1870.6 * 0.5**0.8 = 1074.9: still above reuse 600
    assert h.suppressed
    t = h.tick(20.0)  # 1870.6 * 0.5**1.8 = 535.9 < 600
    assert t is not None
    assert t.new == "up"
    assert not h.suppressed


def test_suppression_needs_penalty_at_or_above_the_threshold() -> None:
    exact = Health(
        rise=1, fall=1, hold_down=0.0, dampening=Dampening(penalty=1000, half_life=10, suppress=1000, reuse=1)
    )
    h = EgressHealth("fra", exact, 0.0)
    h.observe(False, 0.0)
    assert h.suppressed  # penalty 1000 >= suppress 1000


def test_without_dampening_nothing_is_suppressed() -> None:
    h = EgressHealth("fra", Health(rise=1, fall=1, hold_down=0.0, dampening=None), 0.0)
    for i in range(10):
        h.observe(False, float(i))
        h.observe(True, i + 0.5)
        h.tick(i + 0.5)
    assert (h.penalty, h.suppressed, h.current_penalty(100.0)) == (0.0, False, 0.0)
    assert h.flaps == 10


def test_persist_keeps_ages_and_restore_adopts_them() -> None:
    h = EgressHealth("fra", DAMPED, 0.0)
    h.observe(False, 100.0)
    h.observe(False, 101.0)
    saved = h.persist(110.0)
    assert saved == {
        "state": "down",
        "since_age": 10.0,
        "good": 0,
        "bad": 2,
        "penalty": 1000.0,
        "penalty_age": 10.0,
        "suppressed": False,
        "flaps": 1,
        "tunnel_down": None,
    }
    back = EgressHealth("fra", DAMPED, 0.0)
    back.restore(saved, 500.0)
    assert (back.state, back.since, back.good, back.bad, back.flaps, back.suppressed) == ("down", 490.0, 0, 2, 1, False)
    assert back.current_penalty(490.0) == 1000.0  # penalised 10 s before the save
    assert back.current_penalty(500.0) == 500.0
    assert back.persist(500.0) == saved


def test_restore_takes_suppressed_and_recovering() -> None:
    back = EgressHealth("fra", DAMPED, 0.0)
    back.restore(
        {
            "state": "recovering",
            "since_age": 3,
            "good": 4,
            "bad": 0,
            "penalty": 1600,
            "penalty_age": 0,
            "suppressed": True,
            "flaps": 2,
        },
        50.0,
    )
    assert (back.state, back.since, back.good, back.suppressed, back.flaps) == ("recovering", 47.0, 4, True, 2)
    assert isinstance(back.good, int)
    assert isinstance(back.flaps, int)


@pytest.mark.parametrize(
    "record",
    [
        {},
        {"state": "sideways"},
        {"state": "down", "since_age": "3", "good": 0, "bad": 0, "penalty": 0, "penalty_age": 0, "flaps": 0},
        {"state": "down", "since_age": True, "good": 0, "bad": 0, "penalty": 0, "penalty_age": 0, "flaps": 0},
        {"state": "down", "since_age": float("nan"), "good": 0, "bad": 0, "penalty": 0, "penalty_age": 0, "flaps": 0},
        {"state": "down", "since_age": 1, "good": 0, "bad": 0, "penalty": float("inf"), "penalty_age": 0, "flaps": 0},
        {"state": "down", "since_age": 1, "good": 0, "bad": 0, "penalty": 0, "penalty_age": 0},
    ],
)
def test_a_malformed_record_leaves_a_fresh_egress(record: dict[str, object]) -> None:
    h = EgressHealth("fra", DAMPED, 7.0)
    h.restore(record, 100.0)
    assert (h.state, h.since, h.good, h.bad, h.penalty, h.flaps, h.suppressed) == ("up", 7.0, 0, 0, 0.0, 0, False)


def test_restore_clamps_negative_ages_and_penalty() -> None:
    h = EgressHealth("fra", DAMPED, 0.0)
    h.restore(
        {"state": "down", "since_age": -5, "good": 0, "bad": 3, "penalty": -10, "penalty_age": -1, "flaps": 1}, 100.0
    )
    assert (h.since, h.penalty) == (100.0, 0.0)
    assert h.persist(100.0)["penalty_age"] == 0.0


def test_as_dict_is_what_status_shows() -> None:
    h = EgressHealth("fra", DAMPED, 0.0)
    h.observe(False, 4.0)
    assert h.as_dict(14.0) == {
        "state": "down",
        "since": 4.0,
        "good_rounds": 0,
        "bad_rounds": 1,
        "penalty": 500.0,
        "suppressed": False,
        "flaps": 1,
        "tunnel_down": None,
    }
    assert h.as_dict(4.0 + 10 / 3)["penalty"] == round(1000 * 0.5 ** (1 / 3), 1)
