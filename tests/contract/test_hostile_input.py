"""Hostile and mistyped ExaBGP JSON: checked at the codec boundary, never misparsed; and every
command bgpsteer emits, for any input, is one ExaBGP 5.0.15's own parser accepts (the oracle)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.events import PeerState, RoutesAnnounced, RoutesWithdrawn
from bgpsteer.exabgp import codec
from bgpsteer.runtime.agent import Agent
from lab.textedit import replaced
from tests.contract.oracle import accepts

PEER = "10.250.1.2"


def update(attrs: Any, nlri: Any, family: str = "ipv4 unicast", nh: str = PEER) -> str:
    return json.dumps(
        {
            "exabgp": "5.0.0",
            "type": "update",
            "neighbor": {
                "address": {"local": "10.250.1.1", "peer": PEER},
                "asn": {"local": 65000, "peer": 64512},
                "message": {"update": {"attribute": attrs, "announce": {family: {nh: nlri}}}},
            },
        }
    )


def decode(line: str) -> list[Any]:
    return codec.Decoder().decode(line)


def test_oracle_accepts_good_lines_and_refuses_bad_ones() -> None:
    good = (
        "neighbor 10.0.0.2 announce attributes path-information 1 next-hop 10.255.0.1 origin igp local-preference 100 "
        "nlri 44.0.1.0/24"
    )
    assert accepts(good)
    assert not accepts(replaced(good, ("100", "4294967296")))
    assert not accepts(replaced(good, ("44.0.1.0/24", "44.0.010.0/24")))
    assert not accepts(replaced(good, ("origin igp", "origin igp community [ 99999:1 ]")))


def test_mistyped_attributes_make_the_update_malformed() -> None:
    for attrs in (
        {"origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": "64512"}}},  # would be 6 4 5 1 2
        {"origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [2**40]}}},
        {"origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [-1]}}},
        {"origin": "igp", "community": ["99999:1"]},  # would be 9:9
        {"origin": "igp", "community": [[99999, 1]]},
        {"origin": "igp", "large-community": [[2**33, 1, 1]]},
        {"origin": "igp", "med": 2**40},
        {"origin": "igp", "med": "10"},
        {"origin": "igp", "med": True},
        {"origin": "bogus"},
    ):
        (item,) = decode(update(attrs, [{"nlri": "44.0.1.0/24"}]))
        assert isinstance(item, codec.Malformed), attrs


def test_state_must_be_a_known_word() -> None:
    line = json.dumps(
        {"exabgp": "5.0.0", "type": "state", "neighbor": {"address": {"local": "x", "peer": PEER}, "state": ["up"]}}
    )
    (item,) = decode(line)
    assert isinstance(item, codec.Malformed)
    line = replaced(line, ('["up"]', '"up"'))
    assert decode(line) == [PeerState(PEER, "up", "")]


def test_nlri_without_a_prefix_string_is_skipped_and_reported() -> None:
    items = decode(
        update({"origin": "igp"}, [{"nlri": 167772160}, {"nlri": None}, {"nlri": {"x": 1}}, {"nlri": "44.0.1.0/24"}])
    )
    (bad,) = [i for i in items if isinstance(i, codec.Malformed)]
    assert "3 NLRI" in bad.reason
    (good,) = [i for i in items if isinstance(i, RoutesAnnounced)]
    assert good.prefixes == ["44.0.1.0/24"]
    line = json.dumps(
        {
            "exabgp": "5.0.0",
            "type": "update",
            "neighbor": {
                "address": {"local": "x", "peer": PEER},
                "message": {"update": {"withdraw": {"ipv4 unicast": [{"nlri": None}, {"nlri": "44.0.2.0/24"}]}}},
            },
        }
    )
    items = decode(line)
    assert RoutesWithdrawn(PEER, 4, ["44.0.2.0/24"]) in items
    assert any(isinstance(i, codec.Malformed) for i in items)


def test_local_pref_from_an_ebgp_cloud_peer_is_ignored() -> None:
    d = codec.Decoder()
    (item,) = d.decode(update({"origin": "igp", "local-preference": 1000}, [{"nlri": "44.0.1.0/24"}]))
    assert isinstance(item, RoutesAnnounced)
    assert item.attrs.local_pref is None
    assert d.local_pref_dropped == 1


# -- the property: whatever ExaBGP hands bgpsteer, every command it emits is one ExaBGP accepts ---------------

CONFIG = """
agent: {local_asn: 65000, router_id: 10.250.0.1, state_dir: /tmp/bgpsteer-hostile}
egresses:
  - {id: fra, region: eu, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1, next_hop6: "fd00:255::1", gateway6:
  "fd00::11"}
  - {id: ams, region: eu, jurisdiction: EU, cost_per_gb: 0.01, next_hop: 10.255.0.2, next_hop6: "fd00:255::2", gateway6:
  "fd00::12"}
cloud_peers:
  - {name: aws, address: 10.250.1.2, asn: 64512, egress: fra, provider: aws, region: r1, families: [ipv4, ipv6]}
  - {name: gcp, address: 10.250.2.2, asn: 16550, egress: ams, provider: gcp, region: r2, families: [ipv4, ipv6]}
core_routers:
  - {name: core1, address: 10.250.0.2, asn: 65000, families: [ipv4, ipv6]}
policy:
  import:
    default: accept
    statements:
      - {name: top, match: {provider: aws}, set: {local_pref: 4294967294, med: +4294967295}, then: accept}
      - {name: top-too, match: {provider: gcp}, set: {local_pref: 4294967294, med: -5}, then: accept}
  export: {default: accept}
"""

hostile_int = st.one_of(st.integers(-(2**40), 2**40), st.sampled_from([0, 1, 65535, 65536, 2**32 - 1, 2**32, -1]))
hostile_value = st.one_of(hostile_int, st.text(max_size=8), st.none(), st.booleans(), st.lists(hostile_int, max_size=3))
prefix_text = st.one_of(
    st.sampled_from(
        [
            "44.0.1.0/24",
            "44.0.010.0/24",
            "44.0.9.0/024",
            "44.0.9.1/24",
            "44.0.2.0/24",
            "0.0.0.0/0",
            "2001:db8::/32",
            "2001:0db8::/32",
            "fd10:1::/48",
            "10.255.0.0/16",
            "44.0.3.0/33",
            "",
            "/",
            "44.0.4.0",
        ]
    ),
    st.builds(lambda a, b, n: f"44.{a}.{b}.0/{n}", st.integers(0, 300), st.integers(0, 300), st.integers(0, 40)),
)
nlri_item = st.one_of(st.builds(lambda p: {"nlri": p}, prefix_text), st.builds(lambda v: {"nlri": v}, hostile_value))
attrs_st = st.fixed_dictionaries(
    {},
    optional={
        "origin": st.sampled_from(["igp", "egp", "incomplete", "bogus", 1]),
        "as-path": st.one_of(
            st.builds(lambda v: {"0": {"element": "as-sequence", "value": v}}, st.lists(hostile_int, max_size=4)),
            st.builds(lambda v: {"0": {"value": v}}, hostile_value),
        ),
        "med": hostile_value,
        "local-preference": hostile_value,
        "community": st.lists(
            st.one_of(st.lists(hostile_int, min_size=2, max_size=2), st.text(max_size=8)), max_size=3
        ),
        "large-community": st.lists(st.lists(hostile_int, min_size=3, max_size=3), max_size=2),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["10.250.1.2", "10.250.2.2"]),
            st.sampled_from(["ipv4 unicast", "ipv6 unicast"]),
            attrs_st,
            st.lists(nlri_item, min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_every_emitted_command_is_accepted_by_exabgp(updates: list[tuple[str, str, dict[str, Any], list[Any]]]) -> None:
    out: list[bytes] = []
    cfg = parse(CONFIG, "hostile.yaml")
    agent = Agent("hostile.yaml", cfg, out.append, clock=lambda: 0.0)
    for peer in ("10.250.1.2", "10.250.2.2"):
        agent.on_line(
            json.dumps(
                {
                    "exabgp": "5.0.0",
                    "type": "state",
                    "neighbor": {"address": {"local": "x", "peer": peer}, "state": "up"},
                }
            )
        )
    agent.start()
    for first, family, attrs, nlri in updates:
        for peer in (first, "10.250.2.2" if first == "10.250.1.2" else "10.250.1.2"):  # both egresses: tie-breaks apply
            line = json.loads(update(attrs, nlri, family, "fd00:250:1::2" if family.startswith("ipv6") else peer))
            line["neighbor"]["address"]["peer"] = peer
            agent.on_line(json.dumps(line))
    agent.flush()
    lines = [
        x for b in out for x in b.decode().splitlines() if " announce attributes " in x or " withdraw attributes " in x
    ]
    refused = [x for x in lines if not accepts(x)]
    assert not refused, refused[:3]


def test_cost_tiebreak_at_the_top_of_the_range_fits_and_keeps_the_ranking() -> None:
    """The highest LOCAL_PREF check allows with two egresses (2^32-2): the tie-break's +1 lands exactly on 2^32-1."""
    out: list[bytes] = []
    agent = Agent("hostile.yaml", parse(CONFIG, "hostile.yaml"), out.append, clock=lambda: 0.0)
    for peer in ("10.250.1.2", "10.250.2.2"):
        line = json.loads(update({"origin": "igp"}, [{"nlri": "44.0.1.0/24"}], nh=peer))
        line["neighbor"]["address"]["peer"] = peer
        agent.on_line(json.dumps(line))
    agent.flush()
    lines = [x for b in out for x in b.decode().splitlines()]
    assert lines
    assert all(accepts(x) for x in lines)
    lp = {x.split(" path-information ")[1].split()[0]: int(x.split(" local-preference ")[1].split()[0]) for x in lines}
    assert lp == {"2": 4294967295, "1": 4294967294}  # ams (path id 2) is cheaper: it gets the +1


def test_cost_bonus_steps_down_where_adding_would_overflow() -> None:
    """Defence in depth (check refuses such a policy): a group at 2^32-1 steps down instead of going past it."""
    from bgpsteer.core.decision import cost_bonus

    cfg = parse(CONFIG, "hostile.yaml")
    fra, ams = cfg.egress("fra"), cfg.egress("ams")
    assert cost_bonus([(1, 4294967295, fra), (2, 4294967295, ams)]) == {1: -1, 2: 0}  # ams cheaper: keeps the top
    assert cost_bonus([(1, 100, fra), (2, 100, ams)]) == {1: 0, 2: 1}


def test_check_refuses_a_local_pref_without_room_for_the_tiebreak() -> None:
    text = replaced(CONFIG, ("local_pref: 4294967294, med: -5", "local_pref: 4294967295, med: -5"))
    with pytest.raises(ConfigError) as exc:
        parse(text, "hostile.yaml")
    assert "local_pref 4294967295 leaves no room for the cost tie-break" in str(exc.value)
    assert parse(
        replaced(text, ("export: {default: accept}", "export: {default: accept}\nsteering: {cost_tiebreak: false}")),
        "h.yaml",
    )
