"""The small rules of multipath, relief and reason communities, with exact values."""

from __future__ import annotations

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.codes import Wire
from bgpsteer.core.decision import AS_TRANS, ExportStage, link_bandwidths, relieve, spread
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import EgressChanged, RoutesAnnounced
from bgpsteer.core.model import Egress, Multipath
from bgpsteer.core.policy import Policy
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


def test_relieve_lifts_the_chosen_target_above_every_other_usable_path() -> None:
    out = ((1, Attrs(local_pref=300)), (2, Attrs(local_pref=200)), (3, Attrs(local_pref=250)), (4, Attrs(local_pref=0)))
    got = dict(relieve(out, 1, 2))  # relief chose 2 (3 ranks next but has no room)
    assert (got[1].local_pref, got[2].local_pref, got[3].local_pref, got[4].local_pref) == (199, 251, 250, 0)
    assert dict(relieve(out, 1, 3))[3].local_pref == 250  # already next: untouched
    assert dict(relieve(out, 1, 4))[4].local_pref == 0  # a drained target is never lifted
    assert dict(relieve(out, 1, 9)) == dict(relieve(out, 1))  # a target without a path: only the source drops
    top = dict(relieve(((1, Attrs(local_pref=0xFFFFFFFF)), (2, Attrs(local_pref=5)), (3, Attrs(local_pref=9))), 3, 2))
    assert (top[2].local_pref, top[3].local_pref) == (0xFFFFFFFF, 4)  # capped at 2^32-1 (a tie the core breaks)


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


def test_a_relieved_path_alone_carries_the_relief_community_and_drops_below_the_other() -> None:
    eng = Engine(config(POLICY, "steering: {reason_communities: true, cost_tiebreak: false}\n"))
    eng.start(0)
    for prefix in ("10.10.1.0/24", "10.10.2.0/24"):
        eng.handle(RoutesAnnounced("10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512,)), [prefix]), 0)
        eng.handle(RoutesAnnounced("10.2.0.2", 4, Attrs(next_hop="10.2.0.2", as_path=(16550,)), [prefix]), 0)
    eng.flush(0)
    fra, ams = eng.egresses["fra"].path_id, eng.egresses["ams"].path_id
    eng.exporter.relieved = {"10.10.1.0/24": (fra, ams)}
    eng.mark_all()
    eng.flush(1)
    out = dict(eng.rib["10.10.1.0/24"].out)
    assert out[fra].local_pref == 99  # aws's 150 drops one under gcp's 100
    assert out[ams].local_pref == 100
    assert (65000, int(Wire.RELIEF), 1) in out[fra].large_communities
    assert not [c for c in out[ams].large_communities if c[1] == int(Wire.RELIEF)]
    other = dict(eng.rib["10.10.2.0/24"].out)  # the same candidates, not relieved: untouched by the other's move
    assert other[fra].local_pref == 150
    assert not [c for c in other[fra].large_communities if c[1] == int(Wire.RELIEF)]


def test_prefixes_with_the_same_candidates_share_one_decision() -> None:
    eng = Engine(config(POLICY, "steering: {cost_tiebreak: false}\n"))
    eng.start(0)
    a1 = Attrs(next_hop="10.1.0.2", as_path=(64512,))
    a2 = Attrs(next_hop="10.2.0.2", as_path=(16550,))
    eng.handle(RoutesAnnounced("10.1.0.2", 4, a1, ["10.10.1.0/24"]), 0)
    eng.handle(RoutesAnnounced("10.2.0.2", 4, a2, ["10.10.1.0/24"]), 0)
    eng.flush(0)
    stage = eng.exporter
    assert len(stage.memo) == 1
    calls: list[str] = []
    real = stage._decide

    def counted(*args: object) -> object:
        calls.append(str(args[2]))
        return real(*args)  # type: ignore[arg-type]

    stage._decide = counted  # type: ignore[method-assign,assignment]
    eng.handle(RoutesAnnounced("10.1.0.2", 4, a1, ["10.10.2.0/24"]), 0)
    eng.handle(RoutesAnnounced("10.2.0.2", 4, a2, ["10.10.2.0/24"]), 0)
    eng.flush(0)
    assert calls == []  # the memo answered
    assert eng.rib["10.10.2.0/24"].out == eng.rib["10.10.1.0/24"].out
    eng.handle(RoutesAnnounced("10.1.0.2", 4, a1, ["10.10.3.0/24"]), 0)  # one candidate only: another shape
    eng.flush(0)
    assert calls == ["10.10.3.0/24"]
    assert len(stage.memo) == 2


def _egress(eid: str, pid: int, mbps: float | None) -> Egress:
    return Egress(eid, "r", "EU", 0.0, f"10.255.0.{pid}", pid, capacity_mbps=mbps)


def test_link_bandwidth_carries_a_16_bit_local_as_or_as_trans_and_never_zero() -> None:
    eg = {"a": _egress("a", 1, 800), "b": _egress("b", 2, None)}
    mp = Multipath()
    assert link_bandwidths(eg, mp, 1) == {1: (1, 100_000_000)}  # bytes/s; an egress without capacity gets none
    assert link_bandwidths(eg, mp, 65535) == {1: (65535, 100_000_000)}
    assert link_bandwidths(eg, mp, 65536) == {1: (AS_TRANS, 100_000_000)}
    assert link_bandwidths(eg, mp, 0) == {1: (AS_TRANS, 100_000_000)}
    assert link_bandwidths(eg, Multipath(weights="equal"), 1) == {}
    assert link_bandwidths(eg, None, 1) == {}
    # a fastest egress beyond the community's 32 bits scales every value; a tiny one stays at least 1
    huge = {"a": _egress("a", 1, 4e12), "b": _egress("b", 2, 1)}
    bw = link_bandwidths(huge, mp, 1)
    assert bw[2] == (1, 1)
    assert bw[1][1] <= 0xFFFFFFFF
    assert ExportStage(Policy("export", [], "accept"), eg, multipath=mp).bandwidth == {
        1: (AS_TRANS, 100_000_000)
    }  # no local AS given


def test_spread_equalises_a_path_at_local_pref_1_too() -> None:
    got = dict(spread([(1, Attrs(local_pref=1)), (2, Attrs(local_pref=5))], {}))
    assert (got[1].local_pref, got[2].local_pref) == (5, 5)


def rank(a: Attrs) -> int:
    (value,) = [c[2] for c in a.large_communities if c[1] == int(Wire.RANK)]
    return value


def test_the_rank_community_is_the_rank_the_core_gives_after_relief() -> None:
    """Relief lowers the relieved path's LOCAL_PREF after the export policy: RANK must describe the wire, not the
    policy's order (the core ranks ams first here: LOCAL_PREF 100 against fra's 99)."""
    eng = Engine(config(POLICY, "steering: {reason_communities: true, cost_tiebreak: false}\n"))
    eng.start(0)
    eng.handle(RoutesAnnounced("10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512,)), ["10.10.1.0/24"]), 0)
    eng.handle(RoutesAnnounced("10.2.0.2", 4, Attrs(next_hop="10.2.0.2", as_path=(16550,)), ["10.10.1.0/24"]), 0)
    eng.flush(0)
    fra, ams = eng.egresses["fra"].path_id, eng.egresses["ams"].path_id
    before = dict(eng.rib["10.10.1.0/24"].out)
    assert (rank(before[fra]), rank(before[ams])) == (1, 2)  # 150 over 100
    eng.exporter.relieved = {"10.10.1.0/24": (fra, ams)}
    eng.mark_all()
    eng.flush(1)
    out = dict(eng.rib["10.10.1.0/24"].out)
    assert (out[fra].local_pref, out[ams].local_pref) == (99, 100)
    assert (rank(out[ams]), rank(out[fra])) == (1, 2)


def test_the_rank_community_follows_origin_and_med_as_the_core_does() -> None:
    """Equal LOCAL_PREF and AS-path length: the core prefers the lower origin (IGP over INCOMPLETE) whatever the
    path ids; ranking by LOCAL_PREF and AS-path length alone would put the lower path id first."""
    accept = "policy:\n  import: {default: accept}\n  export: {default: accept}\n"
    eng = Engine(config(accept, "steering: {reason_communities: true, cost_tiebreak: false}\n"))
    eng.start(0)
    fra, ams = eng.egresses["fra"].path_id, eng.egresses["ams"].path_id
    assert fra < ams
    eng.handle(
        RoutesAnnounced(
            "10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512,), origin="incomplete"), ["10.10.9.0/24"]
        ),
        0,
    )
    eng.handle(RoutesAnnounced("10.2.0.2", 4, Attrs(next_hop="10.2.0.2", as_path=(16550,)), ["10.10.9.0/24"]), 0)
    eng.flush(0)
    out = dict(eng.rib["10.10.9.0/24"].out)
    assert out[fra].local_pref == out[ams].local_pref
    assert (rank(out[ams]), rank(out[fra])) == (1, 2)
