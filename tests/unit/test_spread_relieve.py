"""The small rules of multipath, relief and reason communities, with exact values."""

from __future__ import annotations

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.codes import Wire
from bgpsteer.core.decision import relieve, spread, with_reason
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import EgressChanged, RoutesAnnounced
from tests.unit.helpers import config

BW = {1: (65000, 100), 2: (65000, 300)}


def test_spread_equalises_live_paths_and_leaves_drained_ones() -> None:
    out = [(1, Attrs(local_pref=200, med=5)), (2, Attrs(local_pref=150, med=1)), (3, Attrs(local_pref=0, med=9))]
    got = dict(spread(out, BW))
    assert (got[1].local_pref, got[1].med, got[1].link_bandwidth) == (200, None, (65000, 100))
    assert (got[2].local_pref, got[2].med, got[2].link_bandwidth) == (200, None, (65000, 300))
    assert (got[3].local_pref, got[3].med, got[3].link_bandwidth) == (0, 9, None)  # drained: untouched, no bandwidth
    lone = dict(spread([(3, Attrs(local_pref=None, med=4))], {}))
    assert (lone[3].local_pref, lone[3].med) == (None, 4)  # no live path: nothing to equalise
    one = dict(spread([(1, Attrs(local_pref=1)), (2, Attrs(local_pref=0))], {}))
    assert (one[1].local_pref, one[2].local_pref) == (1, 0)


def test_relieve_drops_one_path_just_below_the_others() -> None:
    out = ((1, Attrs(local_pref=200)), (2, Attrs(local_pref=150)), (3, Attrs(local_pref=0)))
    assert dict(relieve(out, 1))[1].local_pref == 149  # one under the lowest other live path
    assert dict(relieve(out, 1))[3].local_pref == 0
    assert dict(relieve(out, 2))[2].local_pref == 150  # already lowest: stays (149 would be below nothing)
    assert relieve(((1, Attrs(local_pref=200)), (3, Attrs(local_pref=0))), 1) == (
        (1, Attrs(local_pref=200)),
        (3, Attrs(local_pref=0)),
    )  # no other live path: nothing to move to
    low = dict(relieve(((1, Attrs(local_pref=5)), (2, Attrs(local_pref=1))), 1))
    assert low[1].local_pref == 1  # never below 1 (0 means drained)
    same = dict(relieve(((1, Attrs(local_pref=149)), (2, Attrs(local_pref=150))), 1))
    assert same[1].local_pref == 149  # already below: unchanged
    assert dict(relieve(((1, Attrs(local_pref=None)), (2, Attrs(local_pref=150))), 1))[1].local_pref is None


def test_with_reason_adds_one_sorted_large_community() -> None:
    a = Attrs(large_communities=((65000, 9, 9),))
    assert with_reason(a, 65000, Wire.RELIEF, 1).large_communities == ((65000, 5, 1), (65000, 9, 9))
    assert with_reason(with_reason(a, 65000, Wire.RELIEF, 1), 65000, Wire.RELIEF, 1).large_communities == (
        (65000, 5, 1),
        (65000, 9, 9),
    )


POLICY = """
policy:
  import:
    default: accept
    statements:
      - {name: aws, match: {provider: aws}, set: {local_pref: 150}, then: accept}
  export: {default: accept}
"""


def test_reason_ranks_break_ties_by_path_length_then_path_id_and_default_is_statement_0() -> None:
    eng = Engine(config(POLICY, "steering: {reason_communities: true, cost_tiebreak: false}\n"))
    eng.start(0)
    eng.handle(RoutesAnnounced("10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512, 1)), ["10.10.1.0/24"]), 0)
    eng.handle(RoutesAnnounced("10.2.0.2", 4, Attrs(next_hop="10.2.0.2", as_path=(16550,)), ["10.10.1.0/24"]), 0)
    eng.flush(0)
    out = dict(eng.rib["10.10.1.0/24"].out)
    fra, ams = eng.egresses["fra"].path_id, eng.egresses["ams"].path_id
    # aws: LOCAL_PREF 150 via statement 1; gcp: the import default (statement 0), LOCAL_PREF 100 (finalized)
    assert set(out[fra].large_communities) == {(65000, 1, fra), (65000, 2, 1), (65000, 3, 1)}
    assert set(out[ams].large_communities) == {(65000, 1, ams), (65000, 2, 2), (65000, 3, 0)}
    eng2 = Engine(
        config(
            "policy:\n  import: {default: accept}\n  export: {default: accept}\n",
            "steering: {reason_communities: true, cost_tiebreak: false}\n",
        )
    )
    eng2.start(0)
    eng2.handle(RoutesAnnounced("10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512, 1)), ["10.10.1.0/24"]), 0)
    eng2.handle(RoutesAnnounced("10.2.0.2", 4, Attrs(next_hop="10.2.0.2", as_path=(16550,)), ["10.10.1.0/24"]), 0)
    eng2.flush(0)
    out2 = dict(eng2.rib["10.10.1.0/24"].out)
    assert (65000, 2, 1) in out2[ams].large_communities  # equal LOCAL_PREF: the shorter AS path ranks first
    assert (65000, 2, 2) in out2[fra].large_communities
    eng3 = Engine(config(POLICY, "steering: {reason_communities: true, multipath: {weights: equal}}\n"))
    eng3.start(0)
    eng3.handle(RoutesAnnounced("10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512,)), ["10.10.1.0/24"]), 0)
    eng3.handle(RoutesAnnounced("10.2.0.2", 4, Attrs(next_hop="10.2.0.2", as_path=(16550,)), ["10.10.1.0/24"]), 0)
    eng3.flush(0)
    out3 = dict(eng3.rib["10.10.1.0/24"].out)
    assert (65000, 4, 1) in out3[fra].large_communities
    assert (65000, 2, 1) in out3[fra].large_communities  # equal rank after spread: the lower path id first
    assert (65000, 2, 2) in out3[ams].large_communities


def test_assume_down_is_a_transition_once() -> None:
    text = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: r, jurisdiction: EU, next_hop: 10.255.0.1, probe: {type: icmp, targets: [192.0.2.1]}}
  - {id: ams, region: r, jurisdiction: EU, next_hop: 10.255.0.2, probe: {type: icmp, targets: [192.0.2.2]}}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: x}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
policy:
  import: {default: accept}
  export: {default: accept}
"""
    eng = Engine(parse(text, "t.yaml"))
    eng.start(5.0)
    effects = eng.steering.assume_down("fra", 5.0)
    (changed,) = [e for e in effects if isinstance(e, EgressChanged)]
    assert (changed.old, changed.new, changed.reason, changed.time) == ("up", "down", "assumed down (policy test)", 5.0)
    assert eng.steering.health["fra"].state == "down"
    assert eng.steering.health["fra"].since == 5.0
    assert eng.steering.assume_down("fra", 6.0) == []
