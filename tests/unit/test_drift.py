"""Drift (core/drift.py): what a core router holds and uses, compared with intent, each kind in words; and the
convergence window that keeps a failover from being reported as drift."""

from __future__ import annotations

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.drift import CorePath, Drift, Tracker, compare, compare_table
from bgpsteer.core.model import DEFAULT_SCOPE
from bgpsteer.core.viewtypes import PrefixDecision, RankedPath

NH = {"10.255.0.1": "fra", "10.255.0.2": "ams"}
P = "10.10.1.0/24"


def intent(
    primary: str | None = "fra", lp: tuple[int, int] = (200, 100), ams_in_service: bool = True
) -> PrefixDecision:
    ranking = (
        RankedPath(1, "fra", 1, Attrs(next_hop="10.255.0.1", local_pref=lp[0]), primary == "fra", False),
        RankedPath(2, "ams", 2, Attrs(next_hop="10.255.0.2", local_pref=lp[1]), ams_in_service, False),
    )
    return PrefixDecision(P, DEFAULT_SCOPE, primary, False, ranking, ())


def path(nh: str, lp: int | None, best: bool = False, valid: bool = True) -> CorePath:
    return CorePath(nh, lp, best, valid)


AS_INTENDED = [path("10.255.0.1", 200, best=True), path("10.255.0.2", 100)]


def kinds(found: list[Drift]) -> list[str]:
    return [d.kind for d in found]


def test_a_core_that_holds_and_uses_what_was_sent_is_as_intended() -> None:
    assert compare(P, intent(), AS_INTENDED, NH) == []


def test_a_policy_on_the_core_that_changes_local_pref_is_drift_in_words() -> None:
    held = [path("10.255.0.1", 50), path("10.255.0.2", 100, best=True)]
    found = compare(P, intent(), held, NH)
    assert kinds(found) == ["local-pref", "other-egress"]
    assert found[0].detail == "the core holds the path via fra with LOCAL_PREF 50, not 200 (a policy on the core)"
    assert found[1].detail == "the core uses ams, not fra as intended"


def test_nothing_received_an_unresolved_next_hop_and_a_stale_path() -> None:
    assert kinds(compare(P, intent(), [], NH)) == ["missing", "other-egress"]
    assert compare(P, intent(), [], NH)[0].detail == "the core holds none of the paths sent for it (via fra, ams)"
    unresolved = compare(P, intent(), [path("10.255.0.1", 200, valid=False), path("10.255.0.2", 100, best=True)], NH)
    assert kinds(unresolved) == ["unresolved", "other-egress"]
    assert "next-hop 10.255.0.1 does not resolve" in unresolved[0].detail
    only_fra = PrefixDecision(P, DEFAULT_SCOPE, "fra", False, intent().ranking[:1], ())
    stale = compare(P, only_fra, [path("10.255.0.1", 200, best=True), path("10.255.0.2", 100)], NH)
    assert kinds(stale) == ["stale"]
    assert stale[0].detail == "the core holds a path via ams that bgpsteer does not announce (stale)"
    # a prefix bgpsteer announces nothing for, and the core still holds from it: stale too
    assert kinds(compare(P, None, [path("10.255.0.2", 100, best=True)], NH)) == ["stale"]


def test_an_egress_out_of_service_is_not_unresolved_and_a_tie_is_the_cores_to_break() -> None:
    failed = intent(primary="ams", ams_in_service=True)  # fra out: its path invalid on the core, as intended
    assert compare(P, failed, [path("10.255.0.1", 200, valid=False), path("10.255.0.2", 100, best=True)], NH) == []
    tie = PrefixDecision(P, DEFAULT_SCOPE, "fra", True, intent().ranking, ())
    assert compare(P, tie, [path("10.255.0.1", 200), path("10.255.0.2", 100, best=True)], NH) == []
    # paths from elsewhere (not an egress's next-hop) are the core's own business, unless it uses one instead
    other = compare(P, intent(), [*AS_INTENDED[1:], path("10.255.0.1", 200), path("192.0.2.9", 300, best=True)], NH)
    assert [d.detail for d in other] == ["the core uses a path not from bgpsteer, not fra as intended"]


def test_the_whole_table_is_every_prefix_of_either_side_once() -> None:
    table = {P: AS_INTENDED, "10.99.0.0/16": [path("10.255.0.2", 100, best=True)]}
    found = compare_table(lambda p: intent() if p == P else None, [P, P, "10.99.0.0/16"], table, NH)
    assert [(d.prefix, d.kind) for d in found] == [("10.99.0.0/16", "stale")]


def test_a_difference_is_drift_only_once_it_outlasts_the_window() -> None:
    t = Tracker(10.0)
    d = Drift(P, "local-pref", "x")
    assert t.update([d], 0.0) == []  # a failover in progress, maybe
    assert t.update([d], 9.9) == []
    assert t.update([d], 10.0) == [d]
    assert t.update([], 11.0) == []  # gone: forgotten
    assert t.update([d], 12.0) == []  # back: the window starts again


def test_every_difference_is_named_with_its_prefix_and_none_hides_another() -> None:
    only_fra = PrefixDecision(P, DEFAULT_SCOPE, "fra", False, intent().ranking[:1], ())
    found = compare(P, only_fra, [path("10.255.0.2", 100), path("10.255.0.1", 50, best=True)], NH)
    assert [(d.prefix, d.kind) for d in found] == [(P, "stale"), (P, "local-pref")]  # the stale one stops nothing
    (_, nothing) = compare(P, intent(), [], NH)
    assert (nothing.prefix, nothing.detail) == (P, "the core uses no path, not fra as intended")
    table = {P: [], "10.99.0.0/16": [path("10.255.0.2", 100, best=True)]}
    both = compare_table(lambda p: intent() if p == P else None, [P, "10.99.0.0/16"], table, NH)
    assert [(d.prefix, d.kind) for d in both] == [(P, "missing"), (P, "other-egress"), ("10.99.0.0/16", "stale")]


def test_a_reading_that_cannot_tell_use_finds_what_it_can_and_names_the_prefix() -> None:
    """BMP's post-policy paths (knows_use=False): every path valid, none best; LOCAL_PREF and missing paths are
    found, validity and the best path are not claimed."""
    held = [CorePath("10.255.0.1", 7, best=False, valid=True)]
    found = compare(P, intent(), held, NH, knows_use=False)
    assert [(d.prefix, d.kind) for d in found] == [(P, "local-pref")]
    assert compare(P, intent(), [CorePath("10.255.0.1", 200, False, False)], NH, knows_use=False) == []
    table = {P: held}
    assert kinds(compare_table(lambda p: intent(), [P, "10.99.0.0/16"], table, NH, False)) == ["local-pref", "missing"]
    assert kinds(compare_table(lambda p: intent(), [P], table, NH)) == ["local-pref", "other-egress"]


def test_a_path_the_core_marks_stale_is_drift_for_a_prefix_and_for_an_egress_next_hop_route() -> None:
    """Graceful restart keeps a dead session's paths (FRR marks them stale): in a pair whose route servers forward,
    a dead one's NH_E/32 stays best on the core and points at it."""
    held = [CorePath("10.255.0.1", 200, True, True, stale=True), path("10.255.0.2", 100)]
    found = compare(P, intent(), held, NH)
    assert [(d.prefix, d.kind) for d in found] == [(P, "stale")]
    assert found[0].detail == "the core keeps a stale path via fra (graceful restart: the session it came from is down)"
    nh = [CorePath("10.250.10.1", 100, True, True, stale=True), CorePath("10.250.0.1", 100, False, True)]
    (d,) = compare("10.255.0.1/32", None, nh, NH)
    assert (d.prefix, d.kind) == ("10.255.0.1/32", "stale")
    assert d.detail == (
        "the core keeps a stale path for fra's next-hop via 10.250.10.1 (graceful restart: its session is down), "
        "and uses it"
    )
    assert compare("10.255.0.1/32", None, nh[1:], NH) == []  # a next-hop route as it should be: nothing to say
    assert compare("10.255.0.1/24", None, nh, NH) == []  # not a next-hop route: not bgpsteer's
