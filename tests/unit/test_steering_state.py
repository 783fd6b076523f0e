"""SteeringState on its own: probe rounds and their detail, drain, what survives a restart, next-hop routes."""

from __future__ import annotations

import itertools

import pytest

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.events import Announce, EgressChanged, Log, Withdraw
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import DEFAULT_SCOPE, Scope
from bgpsteer.core.steering import SteeringState, class_wanted, default_wanted, nh_routes
from lab.textedit import named, yaml_edited
from tests.unit.helpers import ACCEPT_ALL

TEXT = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1, next_hop6: "fd00:255::1",
     probe: {type: icmp, targets: [192.0.2.1, 192.0.2.11], min_up: 2},
     health: {rise: 1, fall: 2, hold_down: 0, dampening: false}}
  - {id: ams, region: eu-west, jurisdiction: EU, next_hop: 10.255.0.2,
     probe: {type: icmp, targets: [192.0.2.2]}, health: {rise: 1, fall: 2, hold_down: 0, dampening: false}}
  - {id: lon, region: uk, jurisdiction: UK, next_hop: 10.255.0.3}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
"""


def cfg(extra: str = "") -> Config:
    return parse(TEXT + ACCEPT_ALL + extra, "t.yaml")


def state(extra: str = "") -> SteeringState:
    counter = itertools.count(1)
    return SteeringState(cfg(extra), 0.0, lambda: next(counter))


def ok(target: str) -> Sample:
    return Sample(target, True, 5.0)


def lost(target: str, reason: str = "") -> Sample:
    return Sample(target, False, None, reason)


def test_nh_routes_per_family() -> None:
    s = state()
    fra, lon = s.egresses["fra"], s.egresses["lon"]
    assert nh_routes(fra) == [
        (4, "10.255.0.1/32", Attrs(next_hop="self", origin="igp")),
        (6, "fd00:255::1/128", Attrs(next_hop="self", origin="igp")),
    ]
    assert nh_routes(lon) == [(4, "10.255.0.3/32", Attrs(next_hop="self", origin="igp"))]


def test_start_announces_every_usable_egress_once() -> None:
    s = state()
    effects = s.start(0.0)
    routes = sorted(p for e in effects if isinstance(e, Announce) for p in e.prefixes)
    assert routes == ["10.255.0.1/32", "10.255.0.2/32", "10.255.0.3/32", "fd00:255::1/128"]
    assert s.in_service == {DEFAULT_SCOPE: {"fra", "ams", "lon"}}
    assert not [e for e in s.start(0.0) if isinstance(e, Announce)]  # nothing new the second time


def test_probe_round_counts_answers_against_min_up_and_says_why() -> None:
    s = state()
    s.start(0.0)
    # one of two targets answers; min_up is 2: a bad round
    s.probe_round("fra", [ok("192.0.2.1"), lost("192.0.2.11", "timeout")], 1.0)
    effects = s.probe_round("fra", [ok("192.0.2.1"), lost("192.0.2.11")], 2.0)
    changed = [e for e in effects if isinstance(e, EgressChanged)]
    assert len(changed) == 1
    c = changed[0]
    assert (c.decision, c.time, c.egress, c.old, c.new, c.in_service) == (1, 2.0, "fra", "up", "down", False)
    assert c.reason == ("2 bad probe rounds in a row (fall 2): 1/2 targets answered, need 2 (192.0.2.11: no answer)")
    assert [p for e in effects if isinstance(e, Withdraw) for p in e.prefixes] == ["10.255.0.1/32", "fd00:255::1/128"]
    warn = [e for e in effects if isinstance(e, Log) and e.level == "warning"]
    assert [w.message for w in warn] == [
        "egress fra health up -> down: " + c.reason,
        "egress fra out of service: next-hop route withdrawn, the core fails over to its backup paths",
    ]
    assert warn[0].fields == {"egress": "fra"}
    # both answer: recovering (rise 1), and up once the hold-down (0 s) has passed
    back = s.probe_round("fra", [ok("192.0.2.1"), ok("192.0.2.11")], 3.0)
    assert not [e for e in back if isinstance(e, Announce)]
    back = s.tick(3.0)
    assert [p for e in back if isinstance(e, Announce) for p in e.prefixes] == ["10.255.0.1/32", "fd00:255::1/128"]
    infos = [e.message for e in back if isinstance(e, Log) and e.level == "info"]
    assert "egress fra in service: next-hop route announced" in infos
    assert s.stats["fra"].summary() is not None


def test_probe_round_reason_lists_each_failure_with_its_reason() -> None:
    s = state()
    s.start(0.0)
    s.probe_round("ams", [lost("192.0.2.2", "unreachable")], 1.0)
    effects = s.probe_round("ams", [lost("192.0.2.2", "unreachable")], 2.0)
    (c,) = [e for e in effects if isinstance(e, EgressChanged)]
    assert c.reason.endswith(": 0/1 targets answered, need 1 (192.0.2.2: unreachable)")
    good = s.probe_round("ams", [ok("192.0.2.2")], 3.0)
    (up,) = [e for e in good if isinstance(e, EgressChanged) and e.new == "recovering"]
    assert up.reason == "1 good probe rounds in a row (rise 1); hold-down 0s"


@pytest.mark.parametrize("egress", ["lon", "nowhere"])
def test_probe_results_for_an_egress_without_probes_are_ignored(egress: str) -> None:
    s = state()
    s.start(0.0)
    assert s.probe_round(egress, [ok("x")], 1.0) == [
        Log("warning", "probe results for an egress without probes; ignored", {"egress": egress})
    ]
    assert s.in_service[DEFAULT_SCOPE] == {"fra", "ams", "lon"}


def test_nothing_is_announced_before_start() -> None:
    s = state()
    s.probe_round("ams", [lost("192.0.2.2")], 1.0)
    effects = s.probe_round("ams", [lost("192.0.2.2")], 2.0)
    assert not [e for e in effects if isinstance(e, Announce | Withdraw | EgressChanged)]
    assert s.in_service[DEFAULT_SCOPE] == set()
    assert [e.message for e in effects if isinstance(e, Log)] == [
        "egress ams health up -> down: 2 bad probe rounds in a row (fall 2): 0/1 targets answered, need 1 "
        "(192.0.2.2: no answer)"
    ]


def test_drain_and_undrain() -> None:
    s = state()
    assert s.drain("fra", True) == Log(
        "info",
        "egress fra drained: paths re-announced with GRACEFUL_SHUTDOWN (65535:0), LOCAL_PREF 0",
        {"egress": "fra"},
    )
    assert s.drained == {"fra"}
    s.drain("fra", True)
    assert s.drained == {"fra"}
    assert s.drain("fra", False) == Log("info", "egress fra undrained", {"egress": "fra"})
    assert s.drained == set()
    s.drain("fra", False)  # undraining what is not drained is harmless
    assert s.drained == set()


def test_persist_and_restore_round_trip() -> None:
    s = state()
    s.start(0.0)
    s.drain("ams", True)
    s.probe_round("fra", [lost("192.0.2.1"), lost("192.0.2.11")], 1.0)
    s.probe_round("fra", [lost("192.0.2.1"), lost("192.0.2.11")], 2.0)
    saved = s.persist(10.0)
    assert saved["drained"] == ["ams"]
    assert saved["in_service"] == {"": ["ams", "lon"]}
    health = saved["health"]
    assert isinstance(health, dict)
    assert set(health) == {"fra", "ams", "lon"}
    assert health["fra"]["state"] == "down"
    assert health["fra"]["since_age"] == 8.0

    fresh = state()
    effects = fresh.restore(saved, 100.0)
    assert fresh.drained == {"ams"}
    assert fresh.health["fra"].state == "down"
    assert fresh.health["fra"].since == 92.0
    assert fresh.health["ams"].state == "up"
    assert fresh.last_good == {"ams", "lon"}
    assert effects == [
        Log("info", "restored egress state from before the restart", {"not_in_service": "fra", "drained": "ams"})
    ]
    started = fresh.start(100.0)
    assert sorted(p for e in started if isinstance(e, Announce) for p in e.prefixes) == [
        "10.255.0.2/32",
        "10.255.0.3/32",
    ]


def test_restore_ignores_what_is_not_configured_or_malformed() -> None:
    s = state()
    effects = s.restore(
        {
            "drained": ["ams", "gone", 7],
            "health": {
                "gone": {"state": "down"},
                "fra": "not a dict",
                "ams": {
                    "state": "down",
                    "since_age": 1,
                    "good": 0,
                    "bad": 2,
                    "penalty": 0,
                    "penalty_age": 0,
                    "flaps": 1,
                },
            },
            "in_service": {"": ["lon", "gone", 3]},
        },
        50.0,
    )
    assert s.drained == {"ams"}
    assert s.last_good == {"lon"}
    assert s.health["fra"].state == "up"
    assert s.health["ams"].state == "down"
    assert effects == [
        Log("info", "restored egress state from before the restart", {"not_in_service": "ams", "drained": "ams"})
    ]


@pytest.mark.parametrize(
    "data",
    [{}, {"drained": "fra", "health": [], "in_service": []}, {"in_service": {"": "fra"}}, {"in_service": {"x": []}}],
)
def test_restore_of_nothing_usable_changes_nothing(data: dict[str, object]) -> None:
    s = state()
    assert s.restore(data, 5.0) == []
    assert (s.drained, s.last_good) == (set(), set())
    assert all(h.state == "up" for h in s.health.values())


def test_restore_with_only_a_drain_says_so() -> None:
    s = state()
    assert s.restore({"drained": ["lon"]}, 5.0) == [
        Log("info", "restored egress state from before the restart", {"not_in_service": "-", "drained": "lon"})
    ]


def test_restore_after_start_is_refused() -> None:
    s = state()
    s.start(0.0)
    with pytest.raises(RuntimeError, match="restore before start"):
        s.restore({}, 0.0)


def test_tick_finishes_a_hold_down() -> None:
    text = yaml_edited(TEXT, lambda doc: named(doc["egresses"], "ams")["health"].update(fall=1, hold_down=5))
    s = SteeringState(parse(text + ACCEPT_ALL, "t.yaml"), 0.0, lambda: 1)
    s.start(0.0)
    s.probe_round("ams", [lost("192.0.2.2")], 1.0)
    s.probe_round("ams", [ok("192.0.2.2")], 2.0)
    assert s.health["ams"].state == "recovering"
    assert not [e for e in s.tick(6.9) if isinstance(e, Announce)]
    effects = s.tick(7.0)
    assert [p for e in effects if isinstance(e, Announce) for p in e.prefixes] == ["10.255.0.2/32"]
    assert s.usable("ams")


def test_route_finds_the_next_hop_route_in_a_scope() -> None:
    s = state()
    s.start(0.0)
    fra = s.egresses["fra"]
    assert s.route("10.255.0.1/32", fra.path_id, None) == Attrs(next_hop="self", origin="igp")
    assert s.route("fd00:255::1/128", fra.path_id, DEFAULT_SCOPE) == Attrs(next_hop="self", origin="igp")
    assert s.route("10.255.0.1/32", fra.path_id + 100, None) is None  # another path id
    assert s.route("10.255.0.9/32", fra.path_id, None) is None
    assert s.route("10.255.0.1/32", fra.path_id, Scope("realtime")) is None  # no such scope
    assert s.usable("fra")
    assert not s.usable("fra", Scope("realtime"))
    s.probe_round("fra", [lost("192.0.2.1"), lost("192.0.2.11")], 1.0)
    s.probe_round("fra", [lost("192.0.2.1"), lost("192.0.2.11")], 2.0)
    assert s.route("10.255.0.1/32", fra.path_id, None) is None  # withdrawn: not announced now


def test_routes_lists_every_announced_next_hop_route() -> None:
    s = state()
    assert list(s.routes()) == []
    s.start(0.0)
    assert [r for r, _, _ in s.routes()] == ["10.255.0.2/32", "10.255.0.1/32", "fd00:255::1/128", "10.255.0.3/32"]


@pytest.mark.parametrize(
    ("max_down", "probed", "down", "holds"),
    [
        (None, 3, 2, False),
        (None, 3, 3, True),
        (0, 3, 1, True),
        (0, 3, 0, False),
        (1, 2, 1, False),
        (1, 2, 2, True),
        (None, 0, 0, False),
        (None, 1, 1, True),
    ],
)
def test_fail_static_rule(max_down: int | None, probed: int, down: int, holds: bool) -> None:
    steering = cfg().steering.__class__(max_down=max_down)
    names = [f"e{i}" for i in range(probed)]
    healthy = set(names[down:])
    wanted, static = default_wanted(steering, names, healthy, {"kept"}, {"last"})
    assert static is holds
    assert wanted == ({"kept"} if holds else healthy)
    off = cfg().steering.__class__(max_down=max_down, fail_static=False)
    assert default_wanted(off, names, set(), {"kept"}, {"last"}) == (set(), False)


def test_fail_static_keeps_what_is_in_service_else_the_last_good_set() -> None:
    steering = cfg().steering.__class__()
    assert default_wanted(steering, ["a", "b"], set(), {"a"}, {"b"}) == ({"a"}, True)
    assert default_wanted(steering, ["a", "b"], set(), set(), {"b"}) == ({"b"}, True)  # after a restart
    assert default_wanted(steering, ["a", "b"], {"b"}, set(), {"a"}) == ({"b"}, False)


def test_class_fail_static_rule() -> None:
    from bgpsteer.core.model import AppClass

    keep = AppClass(name="rt")
    assert keep.fail_static
    assert class_wanted(keep, {"a"}, {"a", "b"}, {"b"}) == ({"a"}, False)  # an egress fits: no holding
    assert class_wanted(keep, set(), {"a", "b"}, {"b", "c"}) == ({"b"}, True)  # in service for it and at all
    assert class_wanted(keep, set(), {"a", "b"}, {"c"}) == ({"a", "b"}, True)  # else every egress in service
    assert class_wanted(keep, set(), set(), {"c"}) == (set(), False)  # nothing in service at all
    loose = AppClass(name="bulk", fail_static=False)
    assert class_wanted(loose, set(), {"a"}, {"a"}) == (set(), False)
