"""The import and export stages and the prefix classifier on their own: safety reasons, caches that share
outcomes (memory: one copy per distinct outcome), error counting, compliance and next-hop cover."""

from __future__ import annotations

import pytest

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.classify import Classifier, PrefixClass
from bgpsteer.core.config import Config
from bgpsteer.core.decision import GRACEFUL_SHUTDOWN, ExportStage, Path, finalize
from bgpsteer.core.importer import ImportStage
from bgpsteer.core.model import Compliance, Safety
from bgpsteer.core.policy import Policy, Verdict
from bgpsteer.core.prefix import PrefixSet, parse_prefix, parse_range
from tests.unit.helpers import config

EXPORT_BY_PREFIX = """
sets:
  prefix:
    tagged: ["10.10.0.0/16 le 24"]
policy:
  import: {default: accept}
  export:
    default: accept
    statements:
      - {name: tag, match: {prefix: tagged}, set: {med: 7}, then: accept}
"""


def cfg() -> Config:
    return config(EXPORT_BY_PREFIX)


def pc(prefix: str, cls: Classifier | None = None) -> tuple[int, PrefixClass]:
    c = cls or classifier()
    k = c.classify(parse_prefix(prefix))
    return k, c.prefix_classes[k]


def classifier(c: Config | None = None, compliance: tuple[Compliance, ...] = ()) -> Classifier:
    c = c or cfg()
    imp = ImportStage(c.import_policy, c.safety)
    return Classifier(imp.prefix_safety, c.import_policy, c.export_policy, compliance)


# -- import ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("safety", "prefix", "reason"),
    [
        (Safety(), "0.0.0.0/0", "import safety: default route rejected (allow_default is false)"),
        (Safety(allow_default=True), "0.0.0.0/0", None),
        (Safety(), "10.0.0.0/25", "import safety: too specific, /25 is longer than /24"),
        (Safety(max_length_v4=25), "10.0.0.0/25", None),
        (Safety(), "fd10::/49", "import safety: too specific, /49 is longer than /48"),
        (Safety(), "fd10::/48", None),
        (Safety(), "192.0.2.0/24", "import safety: special-purpose prefix (inside 192.0.2.0/24)"),
        (Safety(reject_special_purpose=False), "192.0.2.0/24", None),
        (Safety(), "2001:db8:1::/48", "import safety: special-purpose prefix (inside 2001:db8::/32)"),
        (Safety(), "10.1.0.0/16", None),
        (Safety(reject_private=True), "10.1.0.0/16", "import safety: private prefix (reject_private is true)"),
    ],
)
def test_prefix_safety(safety: Safety, prefix: str, reason: str | None) -> None:
    c = cfg()
    assert ImportStage(c.import_policy, safety).prefix_safety(parse_prefix(prefix)) == reason


def test_next_hop_safety_and_its_cache() -> None:
    c = cfg()
    imp = ImportStage(c.import_policy, c.safety)
    assert imp.next_hop_safety("10.1.0.2") is None
    assert imp.next_hop_safety("127.0.0.1") == "import safety: martian next-hop 127.0.0.1"
    assert imp.next_hop_safety("nonsense") == "invalid next-hop 'nonsense'"
    assert imp.nh_cache.get("127.0.0.1") == ("import safety: martian next-hop 127.0.0.1",)
    assert imp.nh_cache.get("10.1.0.2") == (None,)
    relaxed = ImportStage(c.import_policy, Safety(reject_martian_next_hop=False))
    assert relaxed.next_hop_safety("127.0.0.1") is None


def test_import_verdicts_are_cached_and_rejections_shared() -> None:
    c = cfg()
    imp = ImportStage(c.import_policy, c.safety)
    aws, fra = c.cloud_peers[0], c.egress("fra")
    cls = Classifier(imp.prefix_safety, c.import_policy, c.export_policy)
    a = Attrs(next_hop="10.1.0.2", as_path=(64512,))
    k, p = pc("10.10.1.0/24", cls)
    v = imp.evaluate(aws, fra, parse_prefix("10.10.1.0/24"), k, p, "10.10.1.0/24", a)
    assert v.accepted
    assert v.attrs is not None
    assert v.attrs.next_hop == "10.255.0.1"  # the egress's next-hop replaces the cloud's
    assert imp.evaluate(aws, fra, parse_prefix("10.10.1.0/24"), k, p, "10.10.1.0/24", a) is v  # cached
    bad = Attrs(next_hop="127.0.0.1", as_path=(64512,))
    r1 = imp.evaluate(aws, fra, parse_prefix("10.10.1.0/24"), k, p, "10.10.1.0/24", bad)
    r2 = imp.evaluate(aws, fra, parse_prefix("10.10.2.0/24"), k, p, "10.10.2.0/24", Attrs(next_hop="127.0.0.1"))
    assert r1.reason == "import safety: martian next-hop 127.0.0.1"
    assert r2 is r1  # one shared Verdict per distinct reason
    assert imp.rejections.get("import safety: martian next-hop 127.0.0.1") is r1
    ks, ps = pc("10.0.0.0/25", cls)
    assert imp.evaluate(aws, fra, parse_prefix("10.0.0.0/25"), ks, ps, "10.0.0.0/25", a).reason == (
        "import safety: too specific, /25 is longer than /24"
    )


def test_an_import_error_is_counted_every_time_and_never_cached() -> None:
    c = cfg()

    class Broken(Policy):
        def evaluate(self, r):  # type: ignore[no-untyped-def]
            return Verdict(False, None, ("boom",), error=True)

    imp = ImportStage(Broken("import", [], "accept"), c.safety)
    cls = Classifier(imp.prefix_safety, imp.policy, c.export_policy)
    k, p = pc("10.10.1.0/24", cls)
    a = Attrs(next_hop="10.1.0.2")
    for _ in range(3):
        assert imp.evaluate(c.cloud_peers[0], c.egress("fra"), parse_prefix("10.10.1.0/24"), k, p, "x", a).error
    assert imp.errors == 3
    assert len(imp.cache) == 0


# -- classify ------------------------------------------------------------------------------------------


def test_classes_are_interned_and_carry_every_fact() -> None:
    cls = classifier()
    k1, p1 = pc("10.10.1.0/24", cls)
    k2, _ = pc("10.10.2.0/24", cls)
    k3, p3 = pc("10.20.1.0/24", cls)
    assert k1 == k2 == 0  # same facts, same class
    assert k3 == 1
    assert p1 == PrefixClass(4, None, (), (True,), None, ())
    assert p3.export_sig == (False,)
    assert cls.prefix_classes == [p1, p3]
    _, v6 = pc("fd10::/48", cls)
    assert (v6.afi, v6.safety) == (6, None)
    _, long = pc("10.10.1.0/25", cls)
    assert long.safety == "import safety: too specific, /25 is longer than /24"


def test_compliance_rules_intersect_and_name_themselves() -> None:
    wide = Compliance("eu-or-ch", PrefixSet("w", [parse_range("10.10.0.0/16 le 24")]), frozenset({"EU", "CH"}))
    narrow = Compliance("ch", PrefixSet("n", [parse_range("10.10.1.0/24")]), frozenset({"CH", "US"}))
    cls = classifier(compliance=(wide, narrow))
    assert pc("10.10.1.0/24", cls)[1][4:6] == (frozenset({"CH"}), ("eu-or-ch", "ch"))
    assert pc("10.10.2.0/24", cls)[1][4:6] == (frozenset({"EU", "CH"}), ("eu-or-ch",))
    assert pc("10.20.0.0/16", cls)[1][4:6] == (None, ())


@pytest.mark.parametrize(
    ("prefix", "covers"),
    [
        ("10.255.0.1/32", True),
        ("10.255.0.0/24", True),
        ("10.0.0.0/8", True),
        ("0.0.0.0/1", True),
        ("128.0.0.0/1", False),
        ("10.255.0.2/32", False),
        ("10.254.0.0/16", False),
        ("0.0.0.0/0", False),
    ],
)
def test_a_prefix_covering_an_egress_next_hop_is_rejected(prefix: str, covers: bool) -> None:
    c = cfg()
    imp = ImportStage(c.import_policy, Safety(allow_default=True, max_length_v4=32, reject_special_purpose=False))
    cls = Classifier(imp.prefix_safety, c.import_policy, c.export_policy, (), [("fra", parse_prefix("10.255.0.1/32"))])
    reason = pc(prefix, cls)[1].safety
    expected = "import safety: covers next-hop of egress fra, which must resolve only via bgpsteer's next-hop route"
    assert reason == (expected if covers else None)


# -- export --------------------------------------------------------------------------------------------


def paths(c: Config, attrs_by_peer: dict[str, Attrs]) -> list[Path]:
    out = []
    for peer in c.cloud_peers:
        if peer.name in attrs_by_peer:
            a = attrs_by_peer[peer.name]
            out.append(Path(peer, a, Verdict(True, a, ("import default accept",))))
    return out


def test_export_evaluates_with_the_prefix_and_caches_per_signature() -> None:
    c = cfg()
    ex = ExportStage(c.export_policy, {e.id: e for e in c.egresses})
    a = Attrs(next_hop="10.255.0.1", as_path=(64512,), local_pref=150)
    (p,) = paths(c, {"aws": a})
    v = ex.evaluate(p, parse_prefix("10.10.1.0/24"), "10.10.1.0/24")
    assert v.accepted
    assert v.attrs is not None
    assert (v.attrs.med, v.attrs.local_pref) == (7, 150)
    assert v.trace == ("export statement 'tag' matched: med 7; accept",)
    assert ex.evaluate(p, parse_prefix("10.10.2.0/24"), "10.10.2.0/24") is v  # same signature: cached
    other = ex.evaluate(p, parse_prefix("10.20.1.0/24"), "10.20.1.0/24")
    assert other is not v
    assert other.attrs is not None
    assert other.attrs.med is None
    assert ex.evaluate(p, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", (True,)) is v  # a given signature is used


def test_a_drained_egress_exports_least_preferred_and_says_so() -> None:
    c = cfg()
    ex = ExportStage(c.export_policy, {e.id: e for e in c.egresses}, frozenset({"fra"}))
    (p,) = paths(c, {"aws": Attrs(next_hop="10.255.0.1", local_pref=200, communities=((64512, 100),))})
    v = ex.evaluate(p, parse_prefix("10.20.1.0/24"), "10.20.1.0/24")
    assert v.attrs is not None
    assert (v.attrs.local_pref, v.attrs.communities) == (0, ((64512, 100), GRACEFUL_SHUTDOWN))
    assert v.trace[-1] == "egress drained: GRACEFUL_SHUTDOWN (65535:0), LOCAL_PREF 0"
    ex.set_drained(frozenset())
    assert len(ex.cache) == 0
    v2 = ex.evaluate(p, parse_prefix("10.20.1.0/24"), "10.20.1.0/24")
    assert v2.attrs is not None
    assert v2.attrs.local_pref == 200
    assert len(v2.trace) == 1


def test_finalize() -> None:
    gs = Attrs(communities=(GRACEFUL_SHUTDOWN,))
    assert finalize(gs, True).communities == (GRACEFUL_SHUTDOWN,)  # not twice
    assert finalize(Attrs(), True).communities == (GRACEFUL_SHUTDOWN,)
    assert finalize(Attrs(), False).local_pref == 100  # the core's default, made explicit
    assert finalize(Attrs(local_pref=7), False).local_pref == 7


def test_an_export_error_is_counted_and_the_path_not_announced() -> None:
    c = cfg()

    class Broken(Policy):
        def evaluate(self, r):  # type: ignore[no-untyped-def]
            return Verdict(False, None, ("boom",), error=True)

    ex = ExportStage(Broken("export", [], "accept"), {e.id: e for e in c.egresses})
    (p,) = paths(c, {"aws": Attrs(next_hop="10.255.0.1")})
    for _ in range(2):
        assert ex.evaluate(p, parse_prefix("10.20.1.0/24"), "10.20.1.0/24").error
    assert ex.errors == 2
    assert len(ex.cache) == 0
    k, pcl = pc("10.20.1.0/24")
    assert ex.decide([p], parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl) == ()


def test_decide_one_path_per_egress_compliance_and_shared_outcomes() -> None:
    c = cfg()
    egresses = {e.id: e for e in c.egresses}
    ex = ExportStage(c.export_policy, egresses)
    a_aws = Attrs(next_hop="10.255.0.1", as_path=(64512,), local_pref=150)
    a_gcp = Attrs(next_hop="10.255.0.2", as_path=(16550,), local_pref=150)
    ps = paths(c, {"aws": a_aws, "gcp": a_gcp})
    k, pcl = pc("10.20.1.0/24")
    out = ex.decide(ps, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl)
    fra, ams = egresses["fra"].path_id, egresses["ams"].path_id
    # equal LOCAL_PREF: the cheaper egress (ams, 0.01) gets the higher one
    assert out == tuple(
        sorted([(fra, a_aws.evolve(local_pref=150)), (ams, a_gcp.evolve(local_pref=151))], key=lambda x: x[0])
    )
    assert ex.decide(ps, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl) is out  # memo
    k2, pcl2 = pc("10.20.2.0/24")
    ex.memo.clear()
    assert ex.decide(ps, parse_prefix("10.20.2.0/24"), "10.20.2.0/24", k2, pcl2) is out  # one copy per outcome
    bound = pcl._replace(allowed=frozenset({"US"}))
    assert ex.decide(ps, parse_prefix("10.20.3.0/24"), "10.20.3.0/24", 99, bound) == ()  # never a foreign egress
    one = ex.decide(ps[:1], parse_prefix("10.20.4.0/24"), "10.20.4.0/24", 98, pcl)
    assert one == ((fra, a_aws.evolve(local_pref=150)),)  # a single path gets no tie-break
    no_tb = ExportStage(c.export_policy, egresses, cost_tiebreak=False)
    plain = no_tb.decide(ps, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl)
    assert {a.local_pref for _, a in plain} == {150}


def test_decide_memo_tells_different_candidates_apart() -> None:
    c = cfg()
    ex = ExportStage(c.export_policy, {e.id: e for e in c.egresses})
    k, pcl = pc("10.20.1.0/24")
    first = paths(c, {"aws": Attrs(next_hop="10.255.0.1", local_pref=150)})
    second = paths(c, {"aws": Attrs(next_hop="10.255.0.1", local_pref=300)})
    a = ex.decide(first, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl)
    b = ex.decide(second, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl)
    assert a[0][1].local_pref == 150
    assert b[0][1].local_pref == 300
    both = paths(c, {"aws": Attrs(next_hop="10.255.0.1", local_pref=150), "gcp": Attrs(next_hop="10.255.0.2")})
    assert len(ex.decide(both, parse_prefix("10.20.1.0/24"), "10.20.1.0/24", k, pcl)) == 2
