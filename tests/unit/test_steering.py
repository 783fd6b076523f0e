"""Egress health, measurements, next-hop failover, drain, fail static and compliance."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Effect, Log, RoutesAnnounced, Withdraw
from bgpsteer.core.health import EgressHealth, Transition
from bgpsteer.core.measure import Sample, TargetStats
from bgpsteer.core.model import DEFAULT_SCOPE, Dampening, Health
from bgpsteer.core.view import UnknownName
from lab.textedit import replaced, yaml_edited
from tests.unit.helpers import ACCEPT_ALL, PEERS, PROBES


def base_config(text: str = PROBES, extra: str = "") -> Config:
    return parse("agent: {local_asn: 65000, router_id: 10.0.0.1}\n" + text + ACCEPT_ALL + extra, "t.yaml")


def nh_changes(effects: list[Effect]) -> tuple[set[str], set[str]]:
    ann = {p for e in effects if isinstance(e, Announce) for p in e.prefixes if p.startswith("10.255.")}
    wd = {p for e in effects if isinstance(e, Withdraw) for p in e.prefixes if p.startswith("10.255.")}
    return ann, wd


def rounds(eng: Engine, egress: str, good: bool, n: int, t0: float, step: float = 0.1) -> list[Effect]:
    effects: list[Effect] = []
    for i in range(n):
        effects += eng.probe_round(
            egress, [Sample(f"t-{egress}", good, 1.0 if good else None, "" if good else "timeout")], t0 + i * step
        )
    return effects


# -- health state machine ----------------------------------------------------------


def new_state(t: Transition | None) -> str | None:
    return t.new if t is not None else None


def test_fall_rise_hold_down() -> None:
    h = EgressHealth("fra", Health(rise=2, fall=3, hold_down=10, dampening=None), 0)
    assert [h.observe(False, t) for t in (1, 2)] == [None, None]
    assert h.usable
    assert new_state(h.observe(False, 3)) == "down"
    assert h.observe(True, 4) is None
    assert new_state(h.observe(True, 5)) == "recovering"
    assert not h.usable
    assert h.observe(True, 14) is None  # 9 s into a 10 s hold-down
    assert new_state(h.tick(15.0)) == "up"
    assert h.usable


def test_failure_during_hold_down_restarts_it() -> None:
    h = EgressHealth("fra", Health(rise=1, fall=1, hold_down=10, dampening=None), 0)
    h.observe(False, 1)
    h.observe(True, 2)
    assert new_state(h.observe(False, 5)) == "down"
    h.observe(True, 6)
    assert h.tick(12) is None
    assert new_state(h.tick(16)) == "up"


def test_dampening_suppresses_a_flapping_egress_until_the_penalty_decays() -> None:
    d = Dampening(penalty=1000, half_life=10, suppress=2500, reuse=800)
    h = EgressHealth("fra", Health(rise=1, fall=1, hold_down=0, dampening=d), 0)
    for t in (1, 3, 5):  # three flaps: penalty about 2630 > suppress
        h.observe(False, t)
        h.observe(True, t + 1)
        h.tick(t + 1.5)
    assert h.suppressed
    assert h.state == "recovering"
    assert h.tick(10) is None
    # 2630 * 2^(-t/10) < 800 after about 17 s
    assert h.tick(30) is not None
    assert h.usable
    assert not h.suppressed


def test_jitter_and_loss_follow_rfc3550_and_the_window() -> None:
    s = TargetStats(window=4)
    for rtt in (10.0, 20.0, 10.0, 20.0):
        s.add(Sample("t", True, rtt))
    assert s.loss_pct == 0
    assert 1.5 < s.jitter_ms < 2.0
    s.add(Sample("t", False, None, "timeout"))
    assert s.loss_pct == 25.0
    assert s.last_reason == "timeout"


# -- next-hop failover ------------------------------------------------------------


def started() -> Engine:
    eng = Engine(base_config())
    ann, wd = nh_changes(eng.start(0))
    assert ann == {"10.255.0.1/32", "10.255.0.2/32", "10.255.0.3/32"}
    assert not wd
    return eng


def test_failover_is_one_withdrawal_however_many_prefixes() -> None:
    eng = started()
    prefixes = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(5000)]
    eng.handle(RoutesAnnounced(PEERS["fra"], 4, Attrs(next_hop=PEERS["fra"], as_path=(64512,)), prefixes), 0)
    eng.flush(0)
    effects = rounds(eng, "fra", False, 3, 1)
    route_effects = [e for e in effects if isinstance(e, (Announce, Withdraw))]
    assert route_effects == [Withdraw(4, 1, ["10.255.0.1/32"], DEFAULT_SCOPE)]  # sessions without a class
    assert any(isinstance(e, Log) and "fra health up -> down" in e.message for e in effects)
    # recovers only after rise and the hold-down
    assert nh_changes(rounds(eng, "fra", True, 5, 2)) == (set(), set())
    assert nh_changes(eng.tick(12.5)) == ({"10.255.0.1/32"}, set())


def test_fail_static_keeps_the_last_good_state_when_every_egress_looks_dead() -> None:
    eng = started()
    rounds(eng, "fra", False, 3, 1)
    rounds(eng, "ams", False, 3, 1)
    effects = rounds(eng, "iad", False, 3, 1)
    assert nh_changes(effects) == (set(), set())
    assert any(isinstance(e, Log) and "FAIL STATIC" in e.message for e in effects)
    assert eng.steering.usable("iad")
    assert not eng.steering.usable("fra")


def test_fail_static_can_be_turned_off() -> None:
    eng = Engine(base_config(extra="steering: {fail_static: false}\n"))
    eng.start(0)
    for e in ("fra", "ams", "iad"):
        rounds(eng, e, False, 3, 1)
    assert not any(eng.steering.usable(e) for e in ("fra", "ams", "iad"))


def test_drain_reannounces_with_graceful_shutdown_and_undrain_restores() -> None:
    eng = started()
    eng.handle(RoutesAnnounced(PEERS["fra"], 4, Attrs(next_hop=PEERS["fra"]), ["10.1.0.0/24"]), 0)
    eng.handle(RoutesAnnounced(PEERS["ams"], 4, Attrs(next_hop=PEERS["ams"]), ["10.1.0.0/24"]), 0)
    eng.flush(0)
    drained = {e.path_id: e.attrs for e in eng.drain("fra", True, 1) if isinstance(e, Announce)}
    assert drained[1].local_pref == 0
    assert (65535, 0) in drained[1].communities
    assert drained[2].local_pref == 100  # the policy's own: a drained path is left out of the cost tie-break
    restored = {e.path_id: e.attrs for e in eng.drain("fra", False, 2) if isinstance(e, Announce)}
    assert restored[1].local_pref is not None
    assert restored[2].local_pref is not None
    assert (65535, 0) not in restored[1].communities
    # equal policy preference and cost: the tie-break ranks one of them first, by egress id (ams before fra)
    assert restored[2].local_pref > restored[1].local_pref >= 100
    with pytest.raises(KeyError):
        eng.drain("nowhere", True, 3)


def test_cloud_route_covering_an_egress_next_hop_is_rejected() -> None:
    eng = started()
    eng.handle(RoutesAnnounced(PEERS["fra"], 4, Attrs(next_hop=PEERS["fra"]), ["10.255.0.0/16"]), 0)
    eng.flush(0)
    ((_, _, trace),) = list(eng.rejected())
    assert "covers next-hop of egress fra" in trace[-1]


# -- compliance ---------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    announcers=st.lists(st.sampled_from(["fra", "ams", "iad"]), min_size=1, max_size=3, unique=True),
    fail_sequence=st.lists(st.tuples(st.sampled_from(["fra", "ams", "iad"]), st.booleans()), max_size=12),
    third_octet=st.integers(0, 255),
)
def test_a_bound_prefix_never_leaves_through_a_foreign_egress(
    announcers: list[str], fail_sequence: list[tuple[str, bool]], third_octet: int
) -> None:
    """Under any sequence of egress failures and recoveries, an EU-bound prefix is never
    announced via, nor resolvable through, the US egress; and with no EU egress in service
    it has no usable path at all (withdrawn in effect, never moved abroad)."""
    eng = started()
    prefix = f"10.50.{third_octet}.0/24"
    for egress in announcers:
        eng.handle(RoutesAnnounced(PEERS[egress], 4, Attrs(next_hop=PEERS[egress]), [prefix]), 0)
    eng.flush(0)
    t = 1.0
    for egress, good in fail_sequence:
        rounds(eng, egress, good, 3, t)
        eng.tick(t + 20)
        t += 30
        announced = {pid for p, pid, _ in eng.announced_routes() if p == prefix}
        assert 3 not in announced  # iad's path id
        usable = {pid for pid in announced if eng.steering.usable({1: "fra", 2: "ams"}[pid])}
        eu_in_service = {e for e in ("fra", "ams") if eng.steering.usable(e) and e in announcers}
        if not eu_in_service:  # no EU egress in service: no usable path at all, never one abroad
            assert not usable
        else:
            assert usable == {{"fra": 1, "ams": 2}[e] for e in eu_in_service}


def test_compliance_config_errors_are_positioned() -> None:
    bad = replaced(
        PROBES, ("jurisdictions: [EU]", "jurisdictions: [EU, CH]"), ("prefixes: eu-only", "prefixes: eu-onyl")
    )
    with pytest.raises(ConfigError) as exc:
        base_config(bad)
    text = str(exc.value)
    assert "compliance[0].prefixes" in text
    assert "undefined prefix set 'eu-onyl'" in text
    assert "compliance[0].jurisdictions" in text
    assert "no egress has jurisdiction CH" in text


def test_probe_config_errors_are_all_reported() -> None:
    bad = replaced(
        PROBES,
        (
            "probe: {type: icmp, targets: [192.0.2.1]}",
            "probe: {type: tcp, targets: [192.0.2.1], interval: 0.01, timeout: 2}",
        ),
    )
    with pytest.raises(ConfigError) as exc:
        base_config(bad)
    text = str(exc.value)
    assert "egresses[0].probe.interval" in text
    assert "egresses[0].probe" in text
    assert "needs a port" in text


# -- simulate -----------------------------------------------------------------------


def test_simulate_predicts_moves_and_compliance_withdrawals_without_touching_anything() -> None:
    eng = started()
    eu = Attrs(next_hop="x", as_path=(64512,))
    eng.handle(RoutesAnnounced(PEERS["fra"], 4, eu.evolve(next_hop=PEERS["fra"]), ["10.50.1.0/24", "10.1.0.0/24"]), 0)
    eng.handle(
        RoutesAnnounced(
            PEERS["iad"], 4, eu.evolve(next_hop=PEERS["iad"], as_path=(8075,)), ["10.50.1.0/24", "10.1.0.0/24"]
        ),
        0,
    )
    eng.flush(0)
    before = sorted(eng.announced_routes())
    from bgpsteer.core.simulate import simulate

    r = simulate(eng, {"fra"}, 1)
    assert sorted(eng.announced_routes()) == before
    assert eng.steering.usable("fra")
    assert r["moved"] == [{"prefix": "10.1.0.0/24", "from": "fra", "to": "iad", "tie": False}]
    (w,) = r["withdrawn"]
    assert w["prefix"] == "10.50.1.0/24"
    assert "compliance (gdpr)" in w["reason"]
    assert "iad never used" in w["reason"]
    assert r["bgp_updates"] == 1
    assert not r["fail_static"]
    everything = simulate(eng, {"fra", "ams", "iad"}, 1)
    assert everything["fail_static"]
    assert everything["moved"] == []
    assert everything["withdrawn"] == []
    with pytest.raises(UnknownName):
        simulate(eng, {"nowhere"}, 1)


def test_simulate_a_new_config() -> None:
    eng = started()
    eng.handle(RoutesAnnounced(PEERS["fra"], 4, Attrs(next_hop=PEERS["fra"], as_path=(64512,)), ["10.1.0.0/24"]), 0)
    eng.handle(RoutesAnnounced(PEERS["ams"], 4, Attrs(next_hop=PEERS["ams"], as_path=(16550,)), ["10.1.0.0/24"]), 0)
    eng.flush(0)
    prefer_fra = yaml_edited(
        ACCEPT_ALL,
        lambda doc: doc["policy"]["import"].update(
            statements=[{"name": "fra-first", "match": {"egress": "fra"}, "set": {"local_pref": 300}, "then": "accept"}]
        ),
    )
    new = parse("agent: {local_asn: 65000, router_id: 10.0.0.1}\n" + PROBES + prefer_fra, "new.yaml")
    from bgpsteer.core.simulate import simulate

    r = simulate(eng, set(), 1, new)
    # before: equal policy preference and cost, the egress id broke the tie (ams 101, fra 100)
    assert r["moved"] == [{"prefix": "10.1.0.0/24", "from": "ams", "to": "fra", "tie": False}]
    assert r["bgp_updates_detail"]["path_changes"] == 2  # fra 100 -> 300; ams 101 -> 100 (no tie left to break)


def test_cost_breaks_ties_between_equal_policy_preferences() -> None:
    from bgpsteer.core.decision import cost_bonus
    from bgpsteer.core.model import Egress

    cheap, mid, dear = (
        Egress(n, "r", "EU", c, f"10.255.0.{i}", i)
        for i, (n, c) in enumerate([("c", 0.01), ("b", 0.02), ("a", 0.05)], 1)
    )
    bonus = cost_bonus([(1, 100, cheap), (2, 100, mid), (3, 100, dear)])
    assert bonus.get(1, 0) > bonus.get(2, 0) > bonus.get(3, 0)  # the cheaper egress ranks higher
    bonus = cost_bonus([(1, 100, cheap), (2, 200, mid), (3, 100, dear)])
    assert 200 + bonus.get(2, 0) > 100 + max(bonus.values())  # policy preference first: cost only breaks its ties
    assert bonus.get(1, 0) > bonus.get(3, 0)
    assert cost_bonus([(1, 0, cheap), (3, 0, dear)]) == {}  # drained paths are left alone
    same_cost = [Egress(n, "r", "EU", 0.01, "10.255.0.9", i) for i, n in enumerate(["zrh", "ams"], 1)]
    bonus = cost_bonus([(1, 100, same_cost[0]), (2, 100, same_cost[1])])
    assert bonus.get(2, 0) > bonus.get(1, 0)  # then the egress id: stable
    eng = Engine(base_config(extra="steering: {cost_tiebreak: false}\n"))
    assert eng.exporter.cost_tiebreak is False


@given(
    st.lists(
        st.tuples(
            st.sampled_from([1, 2, 100, 101, 102, 200, 0xFFFFFFFF - 1, 0xFFFFFFFF]), st.sampled_from([0.01, 0.02, 0.05])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_cost_tie_break_orders_by_cost_and_never_reverses_the_policy(paths: list[tuple[int, float]]) -> None:
    from bgpsteer.core.attrs import U32_MAX
    from bgpsteer.core.decision import cost_bonus
    from bgpsteer.core.model import Egress

    egresses = [Egress(f"e{i}", "r", "EU", cost, f"10.255.0.{i + 1}", i + 1) for i, (_, cost) in enumerate(paths)]
    bonus = cost_bonus([(e.path_id, lp, e) for e, (lp, _) in zip(egresses, paths, strict=True)])
    final = {e.path_id: lp + bonus.get(e.path_id, 0) for e, (lp, _) in zip(egresses, paths, strict=True)}
    assert all(1 <= v <= U32_MAX for v in final.values())  # ExaBGP takes every value
    for a, (lp_a, _) in zip(egresses, paths, strict=True):
        for b, (lp_b, _) in zip(egresses, paths, strict=True):
            if lp_a > lp_b:
                assert final[a.path_id] > final[b.path_id]  # the policy's order stands
            elif lp_a == lp_b and (a.cost_per_gb, a.id) < (b.cost_per_gb, b.id):
                assert final[a.path_id] >= final[b.path_id]  # the cheaper never ranks lower
    for lp in {lp for lp, _ in paths}:  # and with room enough, every member of a group gets its own rank
        group = [final[e.path_id] for e, (x, _) in zip(egresses, paths, strict=True) if x == lp]
        higher = min([x for x, _ in paths if x > lp], default=U32_MAX + 1)
        lower = max([x for x, _ in paths if x < lp], default=0)
        if higher - lower - 1 >= len(group):
            assert len(set(group)) == len(group)
