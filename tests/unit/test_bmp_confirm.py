"""BMP differences become drift only once a fresh table confirms them (runtime/monitoring.py ``_confirmed``): FRR
8.4 can leave a prefix out of its post-policy monitoring for good, and a new session's table is the remedy."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bgpsteer.core.drift import Drift, Tracker
from bgpsteer.noc.port import CoreDrift
from bgpsteer.runtime.monitoring import _confirmed

D = Drift("10.10.0.0/16", "missing", "the core holds none of the paths sent for it (via fra)")


class FakeStation:
    def __init__(self) -> None:
        self.sessions = 1
        self.asked: list[str] = []

    def resync(self, why: str) -> bool:
        self.asked.append(why)
        return True


def host(station: FakeStation) -> Any:
    return SimpleNamespace(monitors=SimpleNamespace(station=lambda core: station))


def test_a_difference_asks_for_a_fresh_table_and_is_drift_only_if_that_table_shows_it() -> None:
    st, state = FakeStation(), CoreDrift("core1", Tracker(2), "bmp")
    state.tracker.update([D], 0.0)
    lasting = state.tracker.update([D], 3.0)
    assert _confirmed(host(st), state, lasting, 60, 3.0) == []  # not yet: a fresh table first
    assert st.asked == ["1 difference(s) to confirm with a fresh table"]
    assert _confirmed(host(st), state, lasting, 60, 4.0) == []  # the same session still: not fresh
    st.sessions = 2  # the core connected again and its table is whole
    assert _confirmed(host(st), state, lasting, 60, 6.0) == [D]
    assert (state.resyncs, state.resyncs_total, len(st.asked)) == (1, 1, 1)


def test_a_difference_the_fresh_table_does_not_show_never_becomes_drift_and_resets_the_wait() -> None:
    st, state = FakeStation(), CoreDrift("core1", Tracker(2), "bmp")
    state.tracker.update([D], 0.0)
    _confirmed(host(st), state, state.tracker.update([D], 3.0), 60, 3.0)
    st.sessions = 2
    assert _confirmed(host(st), state, state.tracker.update([], 6.0), 60, 6.0) == []
    assert state.resyncs == 0  # none lasting: the next resync waits only the interval again


def test_new_differences_wait_for_the_interval_which_doubles_while_they_keep_coming() -> None:
    st, state = FakeStation(), CoreDrift("core1", Tracker(2), "bmp")
    other = Drift("10.20.0.0/16", "local-pref", "x")
    state.tracker.update([D], 0.0)
    _confirmed(host(st), state, state.tracker.update([D], 3.0), 10, 3.0)  # resync 1 at 3 s
    st.sessions = 2
    state.tracker.update([D, other], 5.0)
    lasting = state.tracker.update([D, other], 8.0)
    assert _confirmed(host(st), state, lasting, 10, 8.0) == [D]  # other came after the resync: not confirmed
    assert len(st.asked) == 1  # and the interval (10 s) since the last resync has not passed
    _confirmed(host(st), state, lasting, 10, 13.0)
    assert len(st.asked) == 2  # 10 s after: the second resync
    st.sessions = 3
    third = Drift("10.30.0.0/16", "missing", "y")
    state.tracker.update([D, other, third], 14.0)
    lasting = state.tracker.update([D, other, third], 17.0)
    assert _confirmed(host(st), state, lasting, 10, 30.0) == [D, other]
    assert len(st.asked) == 2  # 20 s now (twice the interval after the second): not yet at 30 s
    _confirmed(host(st), state, lasting, 10, 33.0)
    assert len(st.asked) == 3
