"""Each policy condition and action on its own, with exact outcomes and the words it puts in a trace.

The trace is what `explain`, the journal and the logs show an operator, so its wording is asserted too.
"""

from __future__ import annotations

import pytest

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.model import IPV4, IPV6, CloudPeer, Egress
from bgpsteer.core.policy import (
    AsPathContains,
    AsPathLength,
    AsPathRegex,
    CommunityMatch,
    EditCommunities,
    FamilyIs,
    FieldIn,
    LargeCommunityMatch,
    OriginIs,
    Policy,
    PrefixIn,
    PrefixLength,
    Prepend,
    RouteView,
    SetLocalPref,
    SetMed,
    SetNextHop,
    Statement,
    compile_as_path_regex,
)
from bgpsteer.core.prefix import PrefixSet, parse_prefix, parse_range

EGRESS = Egress("fra", "eu-central", "EU", 0.02, "10.255.0.1", 1, next_hop6="fd00:255::1")
EGRESS_V4_ONLY = Egress("ams", "eu-west", "EU", 0.01, "10.255.0.2", 2)
PEER = CloudPeer("aws", "10.1.0.2", 64512, "fra", "aws", "eu-central-1")


def view(prefix: str = "10.10.1.0/24", egress: Egress = EGRESS, **attrs: object) -> RouteView:
    base: dict[str, object] = {"next_hop": "10.1.0.2", "as_path": (64512,)}
    base.update(attrs)
    return RouteView(parse_prefix(prefix), prefix, PEER, egress, Attrs(**base))  # type: ignore[arg-type]


def pset(*ranges: str) -> PrefixSet:
    return PrefixSet("s", [parse_range(r) for r in ranges])


# -- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "invert", "expected"),
    [
        ("10.10.1.0/24", False, True),
        ("10.20.1.0/24", False, False),
        ("10.10.1.0/24", True, False),
        ("10.20.1.0/24", True, True),
    ],
)
def test_prefix_in(prefix: str, invert: bool, expected: bool) -> None:
    c = PrefixIn(pset("10.10.0.0/16 le 24"), invert)
    assert c(view(prefix)) is expected
    assert c.on_prefix(parse_prefix(prefix)) is expected


def test_prefix_in_describe() -> None:
    assert PrefixIn(pset("10.0.0.0/8")).describe() == "prefix in s"
    assert PrefixIn(pset("10.0.0.0/8"), invert=True).describe() == "prefix not in s"


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("10.0.0.0/15", False),
        ("10.0.0.0/16", True),
        ("10.0.0.0/20", True),
        ("10.0.0.0/24", True),
        ("10.0.0.0/25", False),
    ],
)
def test_prefix_length_bounds_are_inclusive(prefix: str, expected: bool) -> None:
    c = PrefixLength(16, 24)
    assert c(view(prefix)) is expected
    assert c.on_prefix(parse_prefix(prefix)) is expected
    assert c.describe() == "prefix length 16..24"


@pytest.mark.parametrize(
    ("prefix", "afi", "expected"),
    [("10.0.0.0/8", IPV4, True), ("10.0.0.0/8", IPV6, False), ("fd10::/48", IPV6, True), ("fd10::/48", IPV4, False)],
)
def test_family_is(prefix: str, afi: int, expected: bool) -> None:
    c = FamilyIs(afi)
    assert c(view(prefix)) is expected
    assert c.on_prefix(parse_prefix(prefix)) is expected


def test_family_describe() -> None:
    assert FamilyIs(IPV4).describe() == "family ipv4"
    assert FamilyIs(IPV6).describe() == "family ipv6"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("peer", "aws"),
        ("egress", "fra"),
        ("provider", "aws"),
        ("region", "eu-central-1"),
        ("egress_region", "eu-central"),
        ("jurisdiction", "EU"),
    ],
)
def test_field_in_reads_its_own_field(field: str, value: str) -> None:
    # every field's value appears once among the route's fields: a field read from the wrong place fails
    assert FieldIn(field, frozenset({value}))(view())  # type: ignore[arg-type]
    others = {"aws", "fra", "eu-central-1", "eu-central", "EU"} - {value}
    assert not FieldIn(field, frozenset(others))(view())  # type: ignore[arg-type]


def test_field_in_describe_sorts_values() -> None:
    assert FieldIn("egress", frozenset({"fra", "ams"})).describe() == "egress in [ams, fra]"


@pytest.mark.parametrize(
    ("mode", "have", "expected"),
    [
        ("any", ((1, 1),), True),
        ("any", ((9, 9),), False),
        ("any", (), False),
        ("all", ((1, 1), (2, 2), (9, 9)), True),
        ("all", ((1, 1),), False),
        ("invert", ((9, 9),), True),
        ("invert", ((2, 2),), False),
        ("invert", (), True),
    ],
)
def test_community_match_modes(mode: str, have: tuple[tuple[int, int], ...], expected: bool) -> None:
    want = frozenset({(1, 1), (2, 2)})
    assert CommunityMatch("c", want, mode)(view(communities=have)) is expected  # type: ignore[arg-type]
    large_have = tuple((a, a, b) for a, b in have)
    large_want = frozenset({(1, 1, 1), (2, 2, 2)})
    assert LargeCommunityMatch("l", large_want, mode)(view(large_communities=large_have)) is expected  # type: ignore[arg-type]


def test_community_match_ignores_the_other_kind() -> None:
    # a standard community set looks at standard communities only, and a large one at large ones only
    assert not CommunityMatch("c", frozenset({(1, 1)}))(view(large_communities=((1, 1, 1),)))
    assert not LargeCommunityMatch("l", frozenset({(1, 1, 1)}))(view(communities=((1, 1),)))


def test_community_describe() -> None:
    assert CommunityMatch("gshut", frozenset(), "all").describe() == "community all of gshut"
    assert LargeCommunityMatch("steered", frozenset()).describe() == "large-community any of steered"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("_64512$", (174, 64512), True),
        ("_64512$", (64512, 174), False),
        ("^64512_", (64512, 174), True),
        ("_645_", (64512,), False),
        ("_174_", (3356, 174, 64512), True),
        ("^$", (), True),
        ("^$", (1,), False),
    ],
)
def test_as_path_regex_underscore_is_a_boundary(pattern: str, path: tuple[int, ...], expected: bool) -> None:
    c = AsPathRegex(pattern, compile_as_path_regex(pattern))
    assert c(view(as_path=path)) is expected


def test_as_path_regex_describe() -> None:
    assert AsPathRegex("_1_", compile_as_path_regex("_1_")).describe() == "as-path matches /_1_/"


def test_as_path_contains() -> None:
    c = AsPathContains(frozenset({174, 3356}))
    assert c(view(as_path=(64512, 3356)))
    assert not c(view(as_path=(64512,)))
    assert not c(view(as_path=()))
    assert c.describe() == "as-path contains any of [174, 3356]"


@pytest.mark.parametrize(("path", "expected"), [((), False), ((1,), True), ((1, 2, 3), True), ((1, 2, 3, 4), False)])
def test_as_path_length_bounds_are_inclusive(path: tuple[int, ...], expected: bool) -> None:
    c = AsPathLength(1, 3)
    assert c(view(as_path=path)) is expected
    assert c.describe() == "as-path length 1..3"


def test_origin_is() -> None:
    c = OriginIs(frozenset({"igp", "egp"}))
    assert c(view(origin="igp"))
    assert not c(view(origin="incomplete"))
    assert c.describe() == "origin in [egp, igp]"


# -- actions --------------------------------------------------------------------------------------


def test_set_local_pref_and_med() -> None:
    r = view(med=50, local_pref=100)
    assert SetLocalPref(200).apply(r.attrs, r).local_pref == 200
    assert SetMed(7).apply(r.attrs, r).med == 7
    assert SetMed(7, relative=True).apply(r.attrs, r).med == 57
    assert SetMed(-80, relative=True).apply(r.attrs, r).med == 0  # clamped, not wrapped
    top = view(med=0xFFFFFFF0)
    assert SetMed(100, relative=True).apply(top.attrs, top).med == 0xFFFFFFFF
    none = view()
    assert SetMed(5, relative=True).apply(none.attrs, none).med == 5  # a missing MED counts as 0
    assert SetMed(7).describe() == "med 7"
    assert SetMed(7, relative=True).describe() == "med +7"
    assert SetMed(-7, relative=True).describe() == "med -7"
    assert SetLocalPref(200).describe() == "local-pref 200"


def test_edit_communities() -> None:
    r = view(communities=((65000, 2), (65000, 1)), large_communities=((65000, 1, 1),))
    added = EditCommunities(add=((65000, 3), (65000, 1))).apply(r.attrs, r)
    assert added.communities == ((65000, 1), (65000, 2), (65000, 3))  # sorted, no duplicates
    assert added.large_communities == ((65000, 1, 1),)  # the other kind is untouched
    removed = EditCommunities(remove=frozenset({(65000, 2)})).apply(r.attrs, r)
    assert removed.communities == ((65000, 1),)
    replaced = EditCommunities(replace=((1, 1),), add=((2, 2),)).apply(r.attrs, r)
    assert replaced.communities == ((1, 1), (2, 2))
    large = EditCommunities(add=((65000, 0, 9),), large=True).apply(r.attrs, r)
    assert large.large_communities == ((65000, 0, 9), (65000, 1, 1))
    assert large.communities == r.attrs.communities


def test_edit_communities_describe() -> None:
    e = EditCommunities(add=((1, 2),), remove=frozenset({(3, 4), (1, 1)}), replace=((5, 6),))
    assert e.describe() == "community replace 5:6, remove 1:1 3:4, add 1:2"
    assert EditCommunities(add=((1, 2, 3),), large=True).describe() == "large-community add 1:2:3"


def test_prepend() -> None:
    r = view(as_path=(64512, 174))
    assert Prepend(65000, 3).apply(r.attrs, r).as_path == (65000, 65000, 65000, 64512, 174)
    assert Prepend(65000, 3).describe() == "as-path prepend 65000 x3"


def test_set_next_hop() -> None:
    r = view()
    assert SetNextHop("192.0.2.9").apply(r.attrs, r).next_hop == "192.0.2.9"
    assert SetNextHop("egress").apply(r.attrs, r).next_hop == "10.255.0.1"
    r6 = view("fd10:10::/48")
    assert SetNextHop("egress").apply(r6.attrs, r6).next_hop == "fd00:255::1"
    # an egress without an IPv6 next-hop leaves an IPv6 route's next-hop as it was
    r6v4 = view("fd10:10::/48", egress=EGRESS_V4_ONLY, next_hop="fd00::2")
    assert SetNextHop("egress").apply(r6v4.attrs, r6v4).next_hop == "fd00::2"
    assert SetNextHop("egress").describe() == "next-hop egress"


# -- statements ---------------------------------------------------------------------------------


def test_statements_in_order_with_next_and_default() -> None:
    pol = Policy(
        "import",
        [
            Statement("tag", (), (EditCommunities(add=((65000, 1),)),), "next"),
            Statement("drop-long", (PrefixLength(25, 32),), (), "reject"),
            Statement("prefer", (FieldIn("egress", frozenset({"fra"})),), (SetLocalPref(200), SetMed(5)), "accept"),
        ],
        "reject",
    )
    ok = pol.evaluate(view())
    assert ok.accepted
    assert ok.attrs is not None
    assert (ok.attrs.local_pref, ok.attrs.med, ok.attrs.communities) == (200, 5, ((65000, 1),))
    assert ok.trace == (
        "import statement 'tag' matched: community add 65000:1",
        "import statement 'prefer' matched: local-pref 200, med 5; accept",
    )
    assert ok.reason == ok.trace[-1]
    long = pol.evaluate(view("10.10.1.0/25"))
    assert not long.accepted
    assert long.attrs is None
    assert long.trace[-1] == "import statement 'drop-long' matched; reject"
    other = pol.evaluate(view(egress=EGRESS_V4_ONLY))
    assert (other.accepted, other.attrs, other.trace[-1]) == (False, None, "import default reject")
    assert not other.error


def test_default_accept_keeps_the_edits() -> None:
    pol = Policy("export", [Statement("tag", (), (SetMed(3),), "next")], "accept")
    v = pol.evaluate(view())
    assert v.accepted
    assert v.attrs is not None
    assert v.attrs.med == 3
    assert v.trace[-1] == "export default accept"


def test_an_error_rejects_and_says_so() -> None:
    class Boom:
        def __call__(self, r: RouteView) -> bool:
            raise ValueError("bad")

        def describe(self) -> str:
            return "boom"

    v = Policy("import", [Statement("x", (Boom(),), (), "accept")], "accept").evaluate(view())
    assert (v.accepted, v.attrs, v.error) == (False, None, True)
    assert v.reason == "import: evaluation error (ValueError: bad), rejected"


def test_signature_lists_the_prefix_conditions_once() -> None:
    shared = PrefixIn(pset("10.10.0.0/16 le 24"))
    pol = Policy(
        "import",
        [
            Statement("a", (shared, FieldIn("peer", frozenset({"aws"}))), (), "next"),
            Statement("b", (shared, PrefixLength(24, 24)), (), "next"),
            Statement("c", (FamilyIs(IPV6),), (), "next"),
        ],
        "accept",
    )
    assert pol.prefix_conditions == (shared, pol.statements[1].conditions[1], pol.statements[2].conditions[0])
    assert pol.signature(parse_prefix("10.10.1.0/24")) == (True, True, False)
    assert pol.signature(parse_prefix("10.10.0.0/16")) == (True, False, False)
    assert Policy("p", [], "accept").signature(parse_prefix("10.0.0.0/8")) == ()
    single = Policy("p", [Statement("a", (FamilyIs(IPV4),), (), "next")], "accept")
    assert single.signature(parse_prefix("10.0.0.0/8")) == (True,)
    assert single.signature(parse_prefix("fd00::/8")) == (False,)
