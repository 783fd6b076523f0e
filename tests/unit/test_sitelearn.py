"""Site prefixes learned from the core routers (core/sitelearn.py, ``site.learn``): the filter, what reaches the
clouds and when it leaves them, a core session that goes down, a restarted helper, a reload, ``max``, and the
loader's and renderer's side."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import (
    EndOfRib,
    Log,
    NotificationReceived,
    PeerState,
    RefreshMarker,
    RoutesAnnounced,
    RoutesWithdrawn,
)
from bgpsteer.core.simulate import return_after
from bgpsteer.core.view import CoreView
from bgpsteer.exabgp.render import render
from lab.textedit import yaml_edited
from tests.unit.returnpath_world import AMS, AWS_ROUTES, CONFIG, FRA, LON, sent, started

CORE = "10.0.0.2"
TAG = (65000, 500)


def learning(**learn: Any) -> str:
    """The return path's world learning its site from core1 (``site.prefixes`` kept: 10.100/16, 10.101/16)."""

    def edit(d: dict[str, Any]) -> None:
        d["sets"]["prefix"]["site-nets"] = ["10.100.0.0/14 le 24", "10.200.0.0/16 le 24"]
        d["sets"]["community"] = {"site-tag": ["65000:500"]}
        d["site"]["learn"] = {"prefix": "site-nets", **learn}

    return yaml_edited(CONFIG, edit)


def core_says(eng: Engine, prefixes: list[str], communities: tuple[tuple[int, int], ...] = ()) -> list[Any]:
    return eng.handle(RoutesAnnounced(CORE, 4, Attrs(next_hop=CORE, communities=communities), prefixes), 1.0)


def test_a_core_route_in_the_set_reaches_every_allowed_cloud_and_its_withdrawal_leaves_at_once() -> None:
    eng, _ = started(learning())
    effects = core_says(eng, ["10.200.1.0/24", "192.0.2.0/24"])
    fra, _ = sent(effects, FRA)
    ams, _ = sent(effects, AMS)
    lon, _ = sent(effects, LON)
    assert "10.200.1.0/24" in fra  # preferred at the TGW through fra (the outbound majority), with its halves
    assert fra["10.200.1.0/24"].med == 100
    assert ams["10.200.1.0/24"].med == 200
    assert "10.200.1.0/24" in lon  # not EU-bound (outside eu-data): Azure via the UK egress too
    assert "192.0.2.0/24" not in {**fra, **ams, **lon}  # outside the set: refused, counted
    assert eng.site_learner is not None
    assert eng.site_learner.stats.refused == 1
    assert "192.0.2.0/24 is not in prefix set site-nets" in eng.site_learner.stats.last_refused
    _, gone = sent(eng.handle(RoutesWithdrawn(CORE, 4, ["10.200.1.0/24"]), 2.0), FRA)
    assert gone == {"10.200.1.0/24"}


def test_compliance_binds_learned_prefixes_like_listed_ones() -> None:
    eng, _ = started(learning())
    effects = core_says(eng, ["10.102.0.0/16"])  # inside eu-data's 10.100.0.0/16 le 24? no: a /16 of its own
    assert "10.102.0.0/16" in sent(effects, LON)[0]
    effects = core_says(eng, ["10.100.7.0/24"])  # EU-bound: never to the UK egress's session
    assert "10.100.7.0/24" in sent(effects, FRA)[0]
    assert "10.100.7.0/24" not in sent(effects, LON)[0]
    assert any(p == "10.100.7.0/24" and "compliance" in why for p, why in eng.return_plan.left_out[LON])


def test_a_community_set_must_tag_the_route_and_a_tag_removed_takes_it_away() -> None:
    eng, _ = started(learning(community="site-tag"))
    assert "10.200.1.0/24" not in sent(core_says(eng, ["10.200.1.0/24"]), FRA)[0]
    assert "10.200.1.0/24" in sent(core_says(eng, ["10.200.1.0/24"], (TAG,)), FRA)[0]
    _, gone = sent(core_says(eng, ["10.200.1.0/24"]), FRA)  # announced again without the tag
    assert gone == {"10.200.1.0/24"}


def test_a_core_session_down_holds_the_site_then_drops_it_and_an_end_of_rib_sweeps_what_is_gone() -> None:
    eng, _ = started(learning(hold=30))
    core_says(eng, ["10.200.1.0/24", "10.200.2.0/24"])
    eng.handle(PeerState(CORE, "down", "hold timer"), 5.0)
    assert sent(eng.tick(20.0), FRA) == ({}, set())  # held: the replies still reach the site
    view = CoreView(eng).site_learning()
    assert view is not None
    assert view.held == 2
    assert "its session is down" in dict(view.announced)["10.200.1.0/24"]
    eng.handle(PeerState(CORE, "up"), 21.0)
    core_says(eng, ["10.200.1.0/24"])  # the core's table again: only one of them
    _, gone = sent(eng.handle(EndOfRib(CORE, 4), 22.0), FRA)
    assert gone == {"10.200.2.0/24"}
    eng.handle(PeerState(CORE, "down", "hold timer"), 40.0)
    assert sent(eng.tick(69.0), FRA)[1] == set()
    assert sent(eng.tick(70.0), FRA)[1] == {"10.200.1.0/24"}  # hold ran out
    assert eng.site_learner is not None
    assert eng.site_learner.stats.expired == 1


def test_a_restarted_helper_restores_what_it_learned_and_the_core_s_refresh_confirms_it() -> None:
    eng, _ = started(learning())
    core_says(eng, ["10.200.1.0/24", "10.200.2.0/24"])
    saved = eng.persist(3.0)
    again = Engine(parse(learning(), "t.yaml"))
    again.restore(saved, 3.0)
    effects = again.start(4.0)
    for peer in (FRA, AMS):
        again.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(64512,)), AWS_ROUTES), 4.0)
    effects += again.flush(4.0)
    assert {"10.200.1.0/24", "10.200.2.0/24"} <= set(sent(effects, FRA)[0])  # nothing leaves any cloud
    core_says(again, ["10.200.1.0/24"])
    again.handle(RefreshMarker(CORE, 4, False), 5.0)
    _, gone = sent(again.handle(RefreshMarker(CORE, 4, True), 5.0), FRA)
    assert gone == {"10.200.2.0/24"}  # the core no longer has it


def test_max_keeps_the_shortest_and_the_listed_prefixes_first() -> None:
    eng, _ = started(learning(max=2))
    core_says(eng, ["10.200.1.0/24", "10.200.0.0/20", "10.101.0.0/16", "10.200.2.0/24"])
    view = CoreView(eng).site_learning()
    assert view is not None
    assert [p for p, _ in view.announced] == ["10.200.0.0/20", "10.200.1.0/24"]  # 10.101/16 is listed already
    assert view.over_max == ("10.200.2.0/24",)
    assert eng.return_plan.prefixes == ("10.100.0.0/16", "10.101.0.0/16", "10.200.0.0/20", "10.200.1.0/24")


def test_a_reload_keeps_what_the_new_filter_still_takes() -> None:
    eng, _ = started(learning())
    core_says(eng, ["10.200.1.0/24", "10.102.0.0/16"])
    narrower = yaml_edited(learning(), lambda d: d["sets"]["prefix"].update({"site-nets": ["10.200.0.0/16 le 24"]}))
    effects = eng.reload(parse(narrower, "t.yaml"), 9.0)
    assert "10.102.0.0/16" in sent(effects, FRA)[1]
    assert "10.102.0.0/16" not in eng.return_plan.prefixes
    assert "10.200.1.0/24" in eng.return_plan.prefixes


def test_explain_says_where_a_site_prefix_comes_from() -> None:
    eng, _ = started(learning())
    core_says(eng, ["10.200.1.0/24"])
    x = CoreView(eng).explain_site("10.200.1.9")
    assert x is not None
    assert (x["site_prefix"], x["origin"]) == ("10.200.1.0/24", "learned from core router core1")
    listed = CoreView(eng).explain_site("10.101.0.1")
    assert listed is not None
    assert listed["origin"] == "listed in site.prefixes"


def test_a_cloud_peer_s_routes_never_become_the_site_and_core_routes_never_a_path_out() -> None:
    eng, _ = started(learning())
    eng.handle(RoutesAnnounced(FRA, 4, Attrs(next_hop=FRA, as_path=(64512,)), ["10.200.9.0/24"]), 1.0)
    eng.flush(1.0)
    assert "10.200.9.0/24" not in eng.return_plan.prefixes
    core_says(eng, ["172.40.0.0/16"])
    assert "172.40.0.0/16" not in eng.rib


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ann", "wd", "down", "up", "eor", "tick"]),
            st.lists(st.sampled_from(["10.200.1.0/24", "10.200.2.0/24", "10.201.0.0/16", "192.0.2.0/24"]), max_size=3),
        ),
        max_size=25,
    )
)
def test_the_clouds_hold_exactly_the_planned_site_whatever_the_core_does(events: list[tuple[str, list[str]]]) -> None:
    """What each cloud session was sent (the sum of the effects) is the plan, and every learned prefix in the plan
    is inside the set; listed prefixes never leave."""
    eng, effects = started(learning(hold=10, max=2))
    held: dict[str, set[str]] = {FRA: set(), AMS: set(), LON: set()}

    def apply(es: list[Any]) -> None:
        for peer, routes in held.items():
            ann, wd = sent(es, peer)
            routes -= wd
            routes |= set(ann)

    apply(effects)
    now = 1.0
    for kind, prefixes in events:
        now += 3.0
        if kind == "ann":
            apply(core_says(eng, prefixes))
        elif kind == "wd":
            apply(eng.handle(RoutesWithdrawn(CORE, 4, prefixes), now))
        elif kind in ("down", "up"):
            apply(eng.handle(PeerState(CORE, kind), now))
        elif kind == "eor":
            apply(eng.handle(EndOfRib(CORE, 4), now))
        apply(eng.tick(now))
    for peer, routes in held.items():
        assert routes == set(eng.return_plan.routes.get(peer, {}))
    learned = set(eng.return_plan.prefixes) - {"10.100.0.0/16", "10.101.0.0/16"}
    assert len(learned) <= 2
    assert all(p.startswith(("10.200.", "10.201.")) for p in learned)
    assert {"10.100.0.0/16", "10.101.0.0/16"} <= set(eng.return_plan.prefixes)


def test_the_loader_names_every_learn_error_at_once() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["sets"]["prefix"]["everything"] = ["0.0.0.0/0 le 24"]
        d["site"]["learn"] = {"prefix": "everything", "from": ["core9"], "community": "nope", "max": 0, "hold": -1}

    with pytest.raises(ConfigError) as e:
        parse(yaml_edited(CONFIG, edit), "t.yaml")
    text = str(e.value)
    for needle in (
        "site.learn.prefix",
        "default route range",
        "site.learn.from[0]: no core router named 'core9'",
        "site.learn.community: undefined community set 'nope'",
        "site.learn.max: 0 is out of range 1..4000",
        "site.learn.hold: -1 must be at least 0",
    ):
        assert needle in text, (needle, text)
    no_site = yaml_edited(CONFIG, lambda d: d.update({"site": {"split": True}}))
    with pytest.raises(ConfigError, match="needs prefixes, learn, or both"):
        parse(no_site, "t.yaml")


def test_only_learned_from_core_sessions_deliver_routes_to_bgpsteer() -> None:
    def core2(d: dict[str, Any]) -> None:
        d["core_routers"].append({"name": "core2", "address": "10.0.0.3", "asn": 65000})

    text = render(parse(yaml_edited(learning(**{"from": ["core1"]}), core2), "t.yaml"), "t.yaml")
    blocks = {b.split(" {", 1)[0]: b for b in text.split("\nneighbor ")[1:]}
    assert "receive { parsed; update; notification; refresh; }" in blocks["10.0.0.2"]
    assert "receive" not in blocks["10.0.0.3"]
    assert "add-path send" in blocks["10.0.0.2"]  # still the core's session: bgpsteer announces to it
    assert "receive" not in render(parse(CONFIG, "t.yaml"), "t.yaml").split("neighbor 10.0.0.2", 1)[1]


def test_simulate_predicts_the_learned_prefixes_moving_too() -> None:
    """One rule for the return path: simulate plans with the learned prefixes as the agent does (a learned
    prefix left out would show as a withdrawal of it in the prediction)."""
    eng, _ = started(learning())
    core_says(eng, ["10.200.1.0/24"])
    tgw = next(c for c in return_after(eng, eng.config, {"ams", "lon"}) if c["cloud"] == "tgw")
    # fra's session: 2 site prefixes + the learned one withdrawn; ams's: the 3 become preferred, plus 6 halves
    assert tgw["route_changes"] == 3 + 3 + 6
    assert tgw["answers_through_after"] == "ams"


def test_a_notification_from_a_learned_core_router_is_still_logged() -> None:
    eng, _ = started(learning())
    effects = eng.handle(NotificationReceived(CORE, 6, 2, "administrative shutdown"), 1.0)
    assert [e.message for e in effects if isinstance(e, Log)] == ["notification received"]
