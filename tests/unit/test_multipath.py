"""Multipath: a spread prefix's paths get one rank and each egress's link bandwidth; the rest is ranked as before.

On the real core (FRR) the weights are checked in tests/integration/test_multipath.py.
"""

from __future__ import annotations

import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.decision import AS_TRANS, link_bandwidths
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import RoutesAnnounced
from bgpsteer.core.model import Egress, Multipath
from bgpsteer.core.view import CoreView
from bgpsteer.exabgp.codec import attribute_text, encode_one
from lab.textedit import replaced, yaml_edited
from tests.contract.oracle import accepts

CONFIG = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1, capacity_mbps: 100}
  - {id: lon, region: uk, jurisdiction: UK, cost_per_gb: 0.01, next_hop: 10.255.0.2, capacity_mbps: 300}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
  - {name: gcp, address: 10.2.0.2, asn: 16550, egress: lon, provider: gcp, region: europe-west2}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
sets:
  prefix:
    spread: ["10.10.0.0/16 le 24"]
    eu-data: ["10.10.8.0/21 le 24"]
compliance:
  - {name: gdpr, prefixes: eu-data, jurisdictions: [EU]}
steering:
  multipath: {prefixes: spread}
policy:
  import:
    default: accept
    statements:
      - {name: fra-first, match: {egress: fra}, set: {local_pref: 200, med: 5}, then: accept}
      - {name: lon, match: {egress: lon}, set: {local_pref: 150}, then: accept}
  export: {default: accept}
"""
AWS, GCP = "10.1.0.2", "10.2.0.2"


def engine(text: str = CONFIG) -> Engine:
    eng = Engine(parse(text, "t.yaml"))
    eng.start(0)
    for peer, asn in ((AWS, 64512), (GCP, 16550)):
        prefixes = ["10.10.1.0/24", "10.20.0.0/16", "10.10.8.0/24"]
        eng.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(asn,)), prefixes), 0)
    eng.flush(0)
    return eng


def out(eng: Engine, prefix: str) -> dict[str, Attrs]:
    entry = eng.rib[prefix]
    egress_of = {e.path_id: e.id for e in eng.config.egresses}
    return {egress_of[pid]: a for pid, a in entry.out}


def test_a_spread_prefix_gets_one_rank_and_each_egress_its_bandwidth() -> None:
    eng = engine()
    paths = out(eng, "10.10.1.0/24")
    assert {e: (a.local_pref, a.med, a.link_bandwidth) for e, a in paths.items()} == {
        "fra": (200, None, (65000, 12_500_000)),
        "lon": (200, None, (65000, 37_500_000)),
    }
    assert attribute_text(paths["lon"]).endswith("extended-community [ bandwidth:65000:37500000 ]")
    d = CoreView(eng).decision("10.10.1.0/24")
    assert d is not None
    assert d.shares == {"fra": 0.25, "lon": 0.75}
    assert d.tie  # the core load-balances: no single best
    ex = CoreView(eng).explain("10.10.1.0/24")
    assert ex is not None
    assert ex["multipath"] == {"fra": 0.25, "lon": 0.75}


def test_a_prefix_outside_the_set_is_ranked_by_policy_and_cost() -> None:
    eng = engine()
    paths = out(eng, "10.20.0.0/16")
    assert {e: (a.local_pref, a.med, a.link_bandwidth) for e, a in paths.items()} == {
        "fra": (200, 5, None),
        "lon": (150, None, None),
    }
    d = CoreView(eng).decision("10.20.0.0/16")
    assert d is not None
    assert (d.primary, d.shares) == ("fra", {})


def test_compliance_still_decides_what_is_spread() -> None:
    eng = engine()
    assert set(out(eng, "10.10.8.0/24")) == {"fra"}  # in the spread set, but EU-bound: lon is never announced
    d = CoreView(eng).decision("10.10.8.0/24")
    assert d is not None
    assert d.shares == {"fra": 1.0}


def test_an_egress_out_of_service_leaves_the_spread() -> None:
    eng = engine()
    eng.steering.in_service_default.discard("lon")  # as a withdrawn next-hop route makes the core see it
    d = CoreView(eng).decision("10.10.1.0/24")
    assert d is not None
    assert d.shares == {"fra": 1.0}


def test_a_drained_egress_stays_least_preferred_in_a_spread() -> None:
    eng = engine()
    eng.drain("lon", True, 1.0)
    eng.flush(1.0)
    paths = out(eng, "10.10.1.0/24")
    assert (paths["fra"].local_pref, paths["lon"].local_pref) == (200, 0)
    d = CoreView(eng).decision("10.10.1.0/24")
    assert d is not None
    assert d.shares == {"fra": 1.0}


def test_equal_weights_carry_no_community() -> None:
    eng = engine(yaml_edited(CONFIG, lambda doc: doc["steering"]["multipath"].update(weights="equal")))
    paths = out(eng, "10.10.1.0/24")
    assert {a.link_bandwidth for a in paths.values()} == {None}
    d = CoreView(eng).decision("10.10.1.0/24")
    assert d is not None
    assert d.shares == {"fra": 0.5, "lon": 0.5}


def test_every_prefix_when_no_set_is_named() -> None:
    eng = engine(yaml_edited(CONFIG, lambda doc: doc["steering"]["multipath"].pop("prefixes")))
    assert {a.local_pref for a in out(eng, "10.20.0.0/16").values()} == {200}


def test_exabgp_accepts_the_command() -> None:
    eng = engine()
    attrs = out(eng, "10.10.1.0/24")["fra"]
    from bgpsteer.core.events import Announce

    line = encode_one(Announce(4, 1, attrs, ["10.10.1.0/24"]), "10.0.0.2")
    assert "extended-community [ bandwidth:65000:12500000 ]" in line
    assert accepts(line), line


def eg(eid: str, pid: int, mbps: float | None) -> Egress:
    return Egress(eid, "r", "EU", 0.0, f"10.255.0.{pid}", pid, capacity_mbps=mbps)


def test_bandwidths_scale_past_the_community_range_and_use_as_trans() -> None:
    egresses = {"a": eg("a", 1, 100_000), "b": eg("b", 2, 400_000)}  # 100 and 400 Gbit/s
    bw = link_bandwidths(egresses, Multipath(), 65000)
    assert bw[2][1] == 0xFFFFFFFF
    assert bw[1][1] == pytest.approx(0xFFFFFFFF / 4, rel=1e-6)
    assert link_bandwidths(egresses, Multipath(), 4_200_000_000)[1][0] == AS_TRANS
    assert link_bandwidths(egresses, Multipath(weights="equal"), 65000) == {}
    assert link_bandwidths(egresses, None, 65000) == {}
    assert link_bandwidths({"a": eg("a", 1, None)}, Multipath(), 65000) == {}


@pytest.mark.parametrize(
    ("steering", "message"),
    [
        ("multipath: {prefixes: nope}", "steering.multipath.prefixes: undefined prefix set 'nope'"),
        ("multipath: {weights: heavy}", "steering.multipath.weights"),
    ],
)
def test_config_errors(steering: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse(replaced(CONFIG, ("multipath: {prefixes: spread}", steering)), "t.yaml")
    assert message in str(exc.value)


def test_capacity_weights_need_every_capacity() -> None:
    text = replaced(CONFIG, (", capacity_mbps: 300", ""))
    with pytest.raises(ConfigError) as exc:
        parse(text, "t.yaml")
    assert "weights: capacity needs capacity_mbps on every egress; missing on lon (or weights: equal)" in str(exc.value)
