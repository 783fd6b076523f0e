"""Relief of an overloaded egress: fewest prefixes, largest first, never abroad, never oscillating."""

from __future__ import annotations

import random

import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Changed, Log, RoutesAnnounced, RoutesWithdrawn
from bgpsteer.core.model import Egress, Relief
from bgpsteer.core.relief import ReliefState
from bgpsteer.core.view import CoreView
from lab.textedit import replaced, yaml_edited

CONFIG = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1, capacity_mbps: 1000}
  - {id: ams, region: eu-west, jurisdiction: EU, next_hop: 10.255.0.2, capacity_mbps: 1000}
  - {id: lon, region: uk, jurisdiction: UK, next_hop: 10.255.0.3, capacity_mbps: 1000}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
  - {name: gcp, address: 10.2.0.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}
  - {name: azure, address: 10.3.0.2, asn: 8075, egress: lon, provider: azure, region: uksouth}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
sets:
  prefix:
    eu-data: ["10.10.8.0/21 le 24"]
compliance:
  - {name: gdpr, prefixes: eu-data, jurisdictions: [EU]}
steering:
  relief: {threshold_pct: 80, release_pct: 60, hold: 10}
policy:
  import:
    default: accept
    statements:
      - {name: fra, match: {egress: fra}, set: {local_pref: 300}, then: accept}
      - {name: ams, match: {egress: ams}, set: {local_pref: 200}, then: accept}
      - {name: lon, match: {egress: lon}, set: {local_pref: 250}, then: accept}
  export: {default: accept}
"""
PEERS = {"fra": ("10.1.0.2", 64512), "ams": ("10.2.0.2", 16550), "lon": ("10.3.0.2", 8075)}
PREFIXES = ["10.20.1.0/24", "10.20.2.0/24", "10.20.3.0/24", "10.20.4.0/24", "10.10.8.0/24"]


def engine(text: str = CONFIG) -> Engine:
    eng = Engine(parse(text, "t.yaml"))
    eng.start(0)
    for peer, asn in PEERS.values():
        eng.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(asn,)), PREFIXES), 0)
    eng.flush(0)
    return eng


def primary(eng: Engine, prefix: str) -> str | None:
    d = CoreView(eng).decision(prefix)
    assert d is not None
    return d.primary


VOLUMES = {
    "10.20.1.0/24": 400.0,
    "10.20.2.0/24": 250.0,
    "10.20.3.0/24": 100.0,
    "10.20.4.0/24": 50.0,
    "10.10.8.0/24": 500.0,
}


def test_nothing_moves_before_the_hold() -> None:
    eng = engine()
    assert eng.report_load({"fra": 950.0, "lon": 100.0}, VOLUMES, 0.0) == []
    assert eng.tick(9.9) == []
    assert primary(eng, "10.20.1.0/24") == "fra"


def test_the_fewest_prefixes_largest_first_move_to_the_next_egress_and_never_abroad() -> None:
    eng = engine()
    eng.report_load({"fra": 950.0, "lon": 100.0, "ams": 0.0}, VOLUMES, 0.0)
    effects = eng.tick(10.0)
    # 950 -> below 800: the 500 Mbit/s EU-bound prefix may only go to ams (EU), the next ranked after fra is lon
    moved = {p: primary(eng, p) for p in PREFIXES}
    assert moved == {
        "10.10.8.0/24": "ams",  # EU-bound: lon (UK) is never a candidate
        "10.20.1.0/24": "fra",  # 950 - 500 = 450 < 800 already: nothing more moves
        "10.20.2.0/24": "fra",
        "10.20.3.0/24": "fra",
        "10.20.4.0/24": "fra",
    }
    logs = [e for e in effects if isinstance(e, Log)]
    assert logs[0].message == (
        "10.10.8.0/24: relief: egress fra at 95% of 1000 Mbit/s (pushed; threshold 80% for 10s); "
        "500 Mbit/s (pushed) moved to ams"
    )
    changed = [e for e in effects if isinstance(e, Changed)]
    assert len(changed) == 1
    assert "relief: egress fra at 95%" in changed[0].reason
    assert [p for e in effects if isinstance(e, Announce) for p in e.prefixes] == ["10.10.8.0/24"]
    ex = CoreView(eng).explain("10.10.8.0/24")
    assert ex is not None
    assert ex["relief"]["from"] == "fra"
    assert ex["relief"]["to"] == "ams"
    assert [(x.egress, x.load_pct, x.moved_off) for x in CoreView(eng).load()] == [
        ("ams", 50.0, 0),
        ("fra", 45.0, 1),
        ("lon", 10.0, 0),
    ]


def test_moves_respect_room_at_the_target() -> None:
    eng = engine()
    # lon is next for the unbound prefixes, but has room for 150 Mbit/s only (800 - 650)
    eng.report_load(
        {"fra": 900.0, "lon": 650.0, "ams": 790.0}, {k: v for k, v in VOLUMES.items() if k != "10.10.8.0/24"}, 0.0
    )
    eng.tick(10.0)
    assert [primary(eng, p) for p in PREFIXES[:4]] == ["fra", "fra", "lon", "fra"]  # 100 fits; 400, 250 do not
    # and the projection still says fra is over: no second move until the hold has passed again
    assert eng.tick(15.0) == []
    eng.report_load({"fra": 850.0, "lon": 720.0}, {}, 16.0)
    eng.tick(20.0)
    assert primary(eng, "10.20.4.0/24") == "lon"  # 50 fits at lon (720 + 50 <= 800)


def test_a_moved_prefix_returns_below_release_after_the_hold_and_not_before() -> None:
    eng = engine()
    eng.report_load({"fra": 850.0, "lon": 0.0}, {"10.20.1.0/24": 400.0}, 0.0)
    eng.tick(10.0)
    assert primary(eng, "10.20.1.0/24") == "lon"
    eng.report_load({"fra": 450.0, "lon": 400.0}, {}, 12.0)  # the move took effect; 450 + 400 > 600: stays
    assert eng.tick(25.0) == []
    effects = eng.report_load({"fra": 150.0, "lon": 400.0}, {}, 26.0)  # 150 + 400 = 550 < 600: returns
    assert primary(eng, "10.20.1.0/24") == "fra"
    assert [e.message for e in effects if isinstance(e, Log)] == ["10.20.1.0/24: relief over, back to egress fra"]


def test_a_move_ends_when_its_egress_leaves_the_prefix() -> None:
    eng = engine()
    eng.report_load({"fra": 850.0, "lon": 0.0}, {"10.20.1.0/24": 400.0}, 0.0)
    eng.tick(10.0)
    eng.handle(RoutesWithdrawn("10.1.0.2", 4, ["10.20.1.0/24"]), 11.0)  # fra's gateway withdraws it
    eng.flush(11.0)
    eng.tick(11.0)
    assert CoreView(eng).relief_move("10.20.1.0/24") is None


def test_without_relief_configured_a_report_is_refused_in_words() -> None:
    eng = engine(yaml_edited(CONFIG, lambda doc: doc.pop("steering")))
    assert [e.message for e in eng.report_load({"fra": 1.0}, {}, 0.0) if isinstance(e, Log)] == [
        "load reported but steering.relief is not configured; ignored"
    ]


@pytest.mark.parametrize(
    ("relief", "message"),
    [
        ("{threshold_pct: 80, release_pct: 80}", "release_pct (80) must be below threshold_pct (80)"),
        ("{threshold_pct: 120}", "expected at most 100, got 120"),
        ("{hold: -1}", "steering.relief.hold"),
        ("{max_moves: 0}", "steering.relief.max_moves"),
        ("{flows: {listen: 10.0.0.1}}", "steering.relief.flows.exporters: required key is missing"),
        ("{flows: {listen: x, exporters: [{address: 10.0.0.2}]}}", "steering.relief.flows.listen"),
        ("{flows: {listen: 10.0.0.1, exporters: []}}", "no exporter: list the routers"),
        (
            "{flows: {listen: 10.0.0.1, exporters: [{address: 10.0.0.2}, {address: 10.0.0.2, sampling: 0}]}}",
            "steering.relief.flows.exporters[1].sampling",
        ),
        ("{flows: {listen: 10.0.0.1, window: 2, interval: 5, exporters: [{address: 10.0.0.2}]}}", "longer than"),
    ],
)
def test_config_errors(relief: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(replaced(CONFIG, ("{threshold_pct: 80, release_pct: 60, hold: 10}", relief)), "t.yaml")
    assert message in str(exc.value)


def eg(eid: str, pid: int) -> Egress:
    return Egress(eid, "r", "EU", 0.0, f"10.255.0.{pid}", pid, capacity_mbps=100.0)


@pytest.mark.parametrize("seed", range(20))
def test_noisy_load_never_moves_a_prefix_back_and_forth_within_the_hold(seed: int) -> None:
    """Utilization jumping around the threshold: every prefix moves at most once per hold, and never back within
    it; an egress never gets traffic that takes its projection past the threshold."""
    rng = random.Random(seed)
    relief = Relief(threshold_pct=80, release_pct=60, hold=10, max_moves=5)
    r = ReliefState(relief, {"a": eg("a", 1), "b": eg("b", 2)})
    prefixes = {f"p{i}": rng.uniform(1, 30) for i in range(8)}
    last_change: dict[str, float] = {}
    for step in range(400):
        now = step * 0.5
        r.report({"a": rng.uniform(50, 110), "b": rng.uniform(0, 70)}, prefixes, now)
        moves, returns = r.step(now, lambda p: ["a", "b"])
        for m in moves:
            assert m.prefix not in last_change or now - last_change[m.prefix] >= 0  # a move
            assert r.projected("b") <= r.limit("b") + 1e-9
            last_change[m.prefix] = now
        for m in returns:
            assert now - m.at >= relief.hold
            last_change[m.prefix] = now


def test_simulate_predicts_the_moves_and_touches_nothing() -> None:
    eng = engine()
    eng.report_load({"fra": 100.0, "lon": 100.0, "ams": 0.0}, VOLUMES, 0.0)  # volumes known, nothing overloaded
    sim = CoreView(eng).simulate(set(), 1.0, load={"fra": 950.0})
    assert sim["relief"]["moved"] == [
        {
            "prefix": "10.10.8.0/24",
            "from": "fra",
            "to": "ams",
            "volume_mbps": 500.0,
            "reason": "relief: egress fra at 95% of 1000 Mbit/s (pushed; threshold 80% for 10s); "
            "500 Mbit/s (pushed) moved to ams",
        }
    ]
    assert sim["relief"]["load_pct_after"]["fra"] == 45.0
    assert CoreView(eng).relief_move("10.10.8.0/24") is None  # the running state is untouched
    assert primary(eng, "10.10.8.0/24") == "fra"
    assert CoreView(eng).simulate(set(), 1.0)["relief"] is None


def test_a_move_lands_on_the_egress_relief_chose_when_the_next_one_has_no_room() -> None:
    """fra overloads; lon ranks next for every prefix but is nearly full, so relief sends 10.20.1.0/24 to ams: the
    core must then use ams (not lon, which would overload in turn)."""
    eng = engine()
    vols = {"10.20.1.0/24": 400.0, "10.20.2.0/24": 50.0}
    eng.report_load({"fra": 950.0, "lon": 700.0, "ams": 0.0}, vols, 0.0)
    eng.tick(10.0)
    assert eng.relief is not None
    m = eng.relief.moved["10.20.1.0/24"]
    assert (m.source, m.target) == ("fra", "ams")
    assert primary(eng, "10.20.1.0/24") == "ams"
    assert eng.core_order_of("10.20.1.0/24") == ["ams", "lon", "fra"]


FLOWS = "{threshold_pct: 80, release_pct: 60, hold: 10, flows: {listen: 10.0.0.1, exporters: [{address: 10.0.0.2}]}}"


def test_flow_volumes_replace_the_last_and_expire_to_unknown_never_zero() -> None:
    eng = engine(replaced(CONFIG, ("{threshold_pct: 80, release_pct: 60, hold: 10}", FLOWS)))
    cfg = eng.config.steering.relief
    assert cfg is not None
    assert cfg.flows is not None
    assert cfg.flows.exporters[0].address == "10.0.0.2"
    eng.report_load({}, {"10.20.3.0/24": 100.0}, 0.0, "flow", 3.0)
    eng.report_load({}, {"10.20.1.0/24": 400.0}, 1.0, "flow", 3.0)  # the whole picture: 10.20.3.0/24 carried nothing
    eng.report_load({"fra": 950.0, "ams": 0.0, "lon": 0.0}, {}, 1.0, "counter", 30.0)
    state = eng._relief
    assert state is not None
    assert dict(state.known_volumes(2.0)) == {"10.20.1.0/24": 400.0}
    assert state.known_volumes(4.1) == {}  # the exporter went silent: no volume is known
    assert eng.tick(11.0) == []  # overloaded for the hold, but no known volume: nothing is moved on old numbers
    assert primary(eng, "10.20.1.0/24") == "fra"
    logs = [e for e in eng.report_load({}, {"10.20.1.0/24": 400.0}, 11.5, "flow", 3.0) if isinstance(e, Log)]
    assert logs
    assert "(counter; threshold 80% for 10s); 400 Mbit/s (flow) moved to" in logs[0].message
