"""The return path (core/returnpath.py, core/providers.py): what each cloud session is told, checked against each
provider's documented path selection; failover by halves; compliance and route limits as invariants."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Effect, Log, RoutesAnnounced, RoutesWithdrawn, Withdraw
from bgpsteer.core.providers import PROFILES, Offer, inside_problem, prefers
from bgpsteer.core.returnpath import halves, wire_path_length
from lab.textedit import named, yaml_edited
from tests.unit.returnpath_world import AMS, AWS_ROUTES, CONFIG, FRA, LON, sent, started


def test_each_provider_profile_follows_its_documented_order() -> None:
    longer: Offer = (17, 500, 9)
    # every gateway takes the longest prefix first, whatever else the routes carry
    for p in PROFILES.values():
        assert prefers(p, {"a": (16, 0, 1), "b": longer}) == ["b"]
    # AWS: shortest AS path, then lowest MED; prepending beats MED
    aws = PROFILES["aws"]
    assert prefers(aws, {"a": (16, 100, 1), "b": (16, 200, 1)}) == ["a"]
    assert prefers(aws, {"a": (16, 100, 2), "b": (16, 200, 1)}) == ["b"]
    # Google Cloud Router: MED alone; equal MEDs are ECMP
    gcp = PROFILES["gcp"]
    assert prefers(gcp, {"a": (16, 100, 1), "b": (16, 200, 1)}) == ["a"]
    assert prefers(gcp, {"a": (16, 100, 4), "b": (16, 100, 1)}) == ["a", "b"]
    # Azure (no weight for VPN) and Alibaba: AS path; MED says nothing
    for name in ("azure", "alibaba"):
        assert prefers(PROFILES[name], {"a": (16, 900, 1), "b": (16, 100, 4)}) == ["a"]
    # the knob bgpsteer turns is one the gateway reads
    for p in PROFILES.values():
        assert ("med" if p.knob == "med" else "as_path") in p.order


def test_inside_addresses_and_halves() -> None:
    assert (
        inside_problem(PROFILES["aws"], "169.254.5.2")
        == "169.254.5.2 lies in 169.254.5.0/30, which aws reserves for itself"
    )
    assert inside_problem(PROFILES["aws"], "169.254.10.1") is None
    assert inside_problem(PROFILES["azure"], "169.254.21.5") is None
    assert "outside 169.254.21.0/24 and 169.254.22.0/24" in str(inside_problem(PROFILES["azure"], "169.254.30.1"))
    assert inside_problem(PROFILES["azure"], "10.0.0.1") is None  # not an inside address at all
    assert halves("10.100.0.0/16") == ["10.100.0.0/17", "10.100.128.0/17"]
    assert halves("fd00::/48") == ["fd00::/49", "fd00:0:0:8000::/49"]
    assert halves("10.0.0.1/32") == []


def test_the_cloud_answers_through_the_egress_its_prefixes_leave_by() -> None:
    _, effects = started()
    fra, _ = sent(effects, FRA)
    ams, _ = sent(effects, AMS)
    # the core sends the tgw's prefixes via fra (local-pref 200): the tgw is told to answer via fra by MED
    assert {p: a.med for p, a in fra.items()} == {"10.100.0.0/16": 100, "10.101.0.0/16": 100}
    assert {p: a.med for p, a in ams.items()} == {"10.100.0.0/16": 200, "10.101.0.0/16": 200}
    assert all(a.as_path == () and a.next_hop == "self" for a in (*fra.values(), *ams.values()))
    assert PROFILES["aws"].knob == "med"
    ranked = prefers(
        PROFILES["aws"],
        {
            s: (16, a[p].med or 0, wire_path_length(a[p]))
            for s, a in (("fra", fra), ("ams", ams))
            for p in ["10.101.0.0/16"]
        },
    )
    assert ranked == ["fra"]


def test_azure_is_steered_by_prepending_and_eu_data_never_returns_through_the_uk() -> None:
    eng, effects = started()
    lon, _ = sent(effects, LON)
    assert list(lon) == ["10.101.0.0/16"]  # 10.100.0.0/16 is bound to the EU: never on the UK egress's session
    assert lon["10.101.0.0/16"].med is None
    why = dict(eng.return_plan.left_out[LON])
    assert why["10.100.0.0/16"] == "compliance: UK not in [EU] (gdpr)"


def test_an_egress_out_of_service_moves_the_return_path_with_halves() -> None:
    eng, _ = started()
    effects = eng.assume_down("fra", 1.0)
    fra, fra_wd = sent(effects, FRA)
    ams, _ = sent(effects, AMS)
    assert fra == {}
    assert fra_wd == {"10.100.0.0/16", "10.101.0.0/16"}  # best effort: it may never arrive over a dead tunnel
    # the halves win at the gateway by their length alone, whatever the dead session still holds
    assert {p: a.med for p, a in ams.items()} == {
        "10.100.0.0/16": 100,
        "10.101.0.0/16": 100,
        "10.100.0.0/17": 100,
        "10.100.128.0/17": 100,
        "10.101.0.0/17": 100,
        "10.101.128.0/17": 100,
    }
    stale_at_fra: Offer = (16, 100, 1)  # the preferred announcement the dead session may still hold
    assert prefers(PROFILES["aws"], {"fra": stale_at_fra, "ams": (17, 100, 1)}) == ["ams"]
    plan = eng.return_plan.clouds["tgw"]
    assert (plan.preferred, plan.split) == ("ams", True)


def test_drain_moves_the_return_path_too_and_undrain_brings_it_back() -> None:
    eng, _ = started()
    effects = eng.drain("fra", True, 1.0)
    ams, _ = sent(effects, AMS)
    assert ams["10.101.0.0/16"].med == 100
    effects = eng.drain("fra", False, 2.0)
    fra, _ = sent(effects, FRA)
    ams, ams_wd = sent(effects, AMS)
    assert fra["10.101.0.0/16"].med == 100
    assert ams["10.101.0.0/16"].med == 200
    assert ams_wd == {"10.100.0.0/17", "10.100.128.0/17", "10.101.0.0/17", "10.101.128.0/17"}


def test_nothing_is_sent_again_when_nothing_changed() -> None:
    eng, _ = started()
    assert [e for e in eng.tick(5.0) if isinstance(e, (Announce, Withdraw))] == []


def test_without_a_site_nothing_goes_to_the_clouds() -> None:
    _, effects = started(yaml_edited(CONFIG, lambda d: d.pop("site")))
    assert [e for e in effects if isinstance(e, (Announce, Withdraw)) and e.peer is not None] == []


def test_provider_facts_are_checked_with_file_and_line() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["agent"]["local_asn"] = 7224  # reserved by AWS
        named(doc["cloud_peers"], "azure-lon", "name").update(address="169.254.30.1", max_routes=5000, hold_time=30)
        doc["site"]["backup_med"] = 50

    with pytest.raises(ConfigError) as exc:
        parse(yaml_edited(CONFIG, change), "bad.yaml")
    text = str(exc.value)
    assert "agent.local_asn 7224 is reserved by aws" in text
    assert "169.254.30.1 is outside 169.254.21.0/24 and 169.254.22.0/24" in text
    assert "cloud_peers[2].max_routes" in text
    assert "4000" in text
    assert "azure uses a hold time of 180 s and does not negotiate another" in text
    assert "backup_med (50) must be higher than preferred_med (100)" in text
    assert all(line.startswith("bad.yaml:") for line in text.splitlines())


EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("down"), st.sampled_from(["fra", "ams", "lon"])),
        st.tuples(st.just("drain"), st.sampled_from(["fra", "ams", "lon"]), st.booleans()),
        st.tuples(st.just("routes"), st.sampled_from([FRA, AMS, LON]), st.sampled_from(AWS_ROUTES), st.booleans()),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(EVENTS, st.integers(1, 12))
def test_route_limits_and_compliance_hold_whatever_the_churn(events: list[tuple[Any, ...]], cap: int) -> None:
    many = [f"10.{100 + i}.0.0/16" for i in range(8)]

    def change(doc: dict[str, Any]) -> None:
        doc["site"]["prefixes"] = many
        for p in doc["cloud_peers"]:
            p["max_routes"] = cap

    eng, effects = started(yaml_edited(CONFIG, change))
    held: dict[str, set[str]] = {FRA: set(), AMS: set(), LON: set()}
    now = 1.0
    for ev in events:
        now += 1.0
        effects += _apply(eng, ev, now)
    for e in effects:
        if isinstance(e, (Announce, Withdraw)) and e.peer is not None:
            (held[e.peer].update if isinstance(e, Announce) else held[e.peer].difference_update)(e.prefixes)
        for peer, routes in held.items():
            assert len(routes) <= cap, (peer, sorted(routes))
        assert not {p for p in held[LON] if p.startswith("10.100.")}, "EU-bound data returns through the UK"
    assert held == {peer: set(routes) for peer, routes in eng.return_plan.routes.items()}


def _apply(eng: Engine, ev: tuple[Any, ...], now: float) -> list[Effect]:
    if ev[0] == "down":
        return eng.assume_down(ev[1], now)
    if ev[0] == "drain":
        return eng.drain(ev[1], ev[2], now)
    _, peer, prefix, up = ev
    if up:
        eng.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(64512,)), [prefix]), now)
    else:
        eng.handle(RoutesWithdrawn(peer, 4, [prefix]), now)
    return eng.flush(now)


def test_the_site_returned_by_a_cloud_is_an_as_path_loop_and_never_a_path() -> None:
    """A gateway re-advertises what one of our sessions told it over the other (FRR does): rejected on import."""
    eng, _ = started()
    looped = Attrs(next_hop=AMS, as_path=(64512, 65000))
    eng.handle(RoutesAnnounced(AMS, 4, looped, ["10.100.0.0/16"]), 1.0)
    eng.flush(1.0)
    assert [(p, peer, trace) for p, peer, trace in eng.rejected()] == [
        ("10.100.0.0/16", "aws-ams", ("import safety: AS path loop (contains our AS 65000)",))
    ]
    assert eng.rib["10.100.0.0/16"].out == ()


def test_communities_go_on_every_route_and_only_the_named_clouds_are_told() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["site"].update(communities=["65000:10", "no-export"], clouds=["tgw"])

    _, effects = started(yaml_edited(CONFIG, change))
    fra, _ = sent(effects, FRA)
    lon, _ = sent(effects, LON)
    assert {a.communities for a in fra.values()} == {((65000, 10), (65535, 65281))}
    assert lon == {}  # the azure cloud is not in site.clouds

    def unknown(doc: dict[str, Any]) -> None:
        doc["site"].update(clouds=["tgw", "nosuch"], communities=["65000:99999"])

    with pytest.raises(ConfigError) as exc:
        parse(yaml_edited(CONFIG, unknown), "bad.yaml")
    text = str(exc.value)
    assert "site.clouds[1]" in text
    assert "undefined cloud 'nosuch'; defined: azure-65515, tgw" in text
    assert "site.communities[0]" in text


AZURE2 = """
  - {name: azure-ams, address: 10.4.0.2, asn: 65515, egress: ams, provider: azure, region: westeurope}
"""


def plan_of(eng: Engine) -> dict[str, dict[str, tuple[str, int | None, int, str]]]:
    """Every session's routes: prefix -> (role, MED, AS path length on the wire, why)."""
    return {
        peer: {p: (r.role, r.attrs.med, wire_path_length(r.attrs), r.why) for p, r in routes.items()}
        for peer, routes in eng.return_plan.routes.items()
    }


def test_the_whole_plan_with_every_role_and_reason() -> None:
    """One golden plan: MED and prepend providers, preferred and backup, halves, compliance, fail static, a half
    that is also a site prefix, and the limit, with the words explain and status show."""

    def change(doc: dict[str, Any]) -> None:
        doc["cloud_peers"].append(yaml.safe_load(AZURE2)[0])  # the azure cloud via lon (UK) and ams (EU)
        doc["site"]["prefixes"] = ["10.100.0.0/16", "10.101.0.0/16", "10.101.128.0/17"]
        named(doc["cloud_peers"], "aws-ams", "name")["max_routes"] = 5

    eng, _ = started(yaml_edited(CONFIG, change))
    eng.assume_down("fra", 1.0)
    lon_wins = "the cloud answers through lon"
    assert plan_of(eng) == {
        FRA: {},
        AMS: {
            "10.100.0.0/16": ("preferred", 100, 1, "the cloud answers through ams"),
            "10.101.0.0/16": ("preferred", 100, 1, "the cloud answers through ams"),
            "10.101.128.0/17": ("preferred", 100, 1, "the cloud answers through ams"),
            "10.100.0.0/17": ("half", 100, 1, "fast failover: a more-specific wins at the cloud"),
            "10.100.128.0/17": ("half", 100, 1, "fast failover: a more-specific wins at the cloud"),
        },
        LON: {"10.101.0.0/16": ("preferred", None, 1, lon_wins), "10.101.128.0/17": ("preferred", None, 1, lon_wins)},
        "10.4.0.2": {
            # EU-bound: its only allowed egress of this cloud is ams, which is then preferred for it
            "10.100.0.0/16": ("preferred", None, 1, "the cloud answers through ams"),
            "10.101.0.0/16": ("backup", None, 4, "backup (AS path prepended 3x): the cloud answers through lon"),
            "10.101.128.0/17": ("backup", None, 4, "backup (AS path prepended 3x): the cloud answers through lon"),
        },
    }
    assert dict(eng.return_plan.left_out[FRA]) == {
        "10.100.0.0/16": "egress fra out of service: the cloud answers through ams",
        "10.101.0.0/16": "egress fra out of service: the cloud answers through ams",
        "10.101.128.0/17": "egress fra out of service: the cloud answers through ams",
    }
    # halves go last under the limit; 10.101.128.0/17, a half of 10.101.0.0/16, is a site prefix of its own (kept)
    full = "route limit 5 of this session reached"
    assert eng.return_plan.left_out[AMS] == [
        ("10.101.0.0/17", full),
        ("10.101.128.0/18", full),
        ("10.101.192.0/18", full),
    ]
    assert dict(eng.return_plan.left_out[LON]) == {"10.100.0.0/16": "compliance: UK not in [EU] (gdpr)"}
    eng.assume_down("ams", 2.0)  # the tgw has no egress left: fail static on both its sessions
    fail_static = ("fail static", 200, 1, "no allowed egress of this cloud in service")
    assert (
        plan_of(eng)[FRA]
        == plan_of(eng)[AMS]
        == dict.fromkeys(["10.100.0.0/16", "10.101.0.0/16", "10.101.128.0/17"], fail_static)
    )


def test_the_preferred_egress_follows_the_outbound_majority_even_after_a_reload_adds_the_site() -> None:
    ams_first = yaml_edited(
        CONFIG,
        lambda doc: named(doc["policy"]["import"]["statements"], "fra-first", "name").update(match={"egress": "ams"}),
    )
    eng = Engine(parse(yaml_edited(ams_first, lambda d: d.pop("site")), "t.yaml"))
    eng.start(0.0)
    for peer in (FRA, AMS):
        eng.handle(RoutesAnnounced(peer, 4, Attrs(next_hop=peer, as_path=(64512,)), AWS_ROUTES), 0.0)
    eng.flush(0.0)
    assert eng.return_plan.clouds == {}
    effects = eng.reload(parse(ams_first, "t.yaml"), 1.0)  # counted again from the RIB: not the config order
    tgw = eng.return_plan.clouds["tgw"]
    assert (tgw.preferred, tgw.egresses, tgw.why) == ("ams", ("ams", "fra"), "3 of its 3 prefixes leave through ams")
    ams, _ = sent(effects, AMS)
    assert ams["10.101.0.0/16"].med == 100
    # a cloud with no prefix leaving through an egress in service keeps the config order, and says so
    lon = next(c for n, c in eng.return_plan.clouds.items() if n != "tgw")
    assert lon.why == "no prefix of this cloud leaves through an egress in service: config order"


def test_what_exabgp_holds_towards_a_cloud_is_withdrawn_only_when_the_plan_does_not_want_it() -> None:
    from bgpsteer.core.reconcile import Reconciler, stale_toward

    a = Attrs(next_hop="self", med=100)
    held = [(FRA, "10.100.0.0/17", 0), (FRA, "10.100.0.0/16", 0), (AMS, "10.101.0.0/16", 0), (FRA, "fd00::/48", 0)]
    out = stale_toward(held, {FRA: {"10.100.0.0/16": a}})
    assert out == {
        FRA: [Withdraw(4, 0, ["10.100.0.0/17"], peer=FRA), Withdraw(6, 0, ["fd00::/48"], peer=FRA)],
        AMS: [Withdraw(4, 0, ["10.101.0.0/16"], peer=AMS)],
    }
    r = Reconciler(0.0)
    for h in [*held, ("10.0.0.2", "172.31.0.0/16", 1)]:
        r.add(h)
    r.dump_done = True
    # the cloud sessions' routes are set aside for the return path, never judged as the core's
    assert r.step(1.0, [], {1: "fra"}, set(), {"10.0.0.2"}, frozenset({FRA, AMS})) == {
        "10.0.0.2": [Withdraw(4, 1, ["172.31.0.0/16"])]
    }
    assert r.cloud_held == held
    assert r.done


def test_the_state_behind_the_plan_counts_sends_and_forgets() -> None:
    from collections import Counter

    eng, effects = started()
    assert [e.message for e in effects if isinstance(e, Log) and e.message.startswith("return path")] == [
        "return path: 5 route changes to the clouds (tgw via fra, azure-65515 via lon)"
    ]
    assert eng.return_counts["tgw"] == Counter({("fra", "ams"): 3})
    assert eng.return_counts["azure-65515"] == Counter({("lon",): 1})
    assert eng.return_wanted(FRA, "10.101.0.0/16") == Attrs(next_hop="self", med=100)
    assert eng.return_wanted(FRA, "10.102.0.0/16") is None
    assert eng.return_wanted("10.9.9.9", "10.101.0.0/16") is None
    # each session's difference: withdrawals first, then announcements, each batch sorted
    order = [
        (type(e).__name__, e.peer, e.prefixes)
        for e in effects
        if isinstance(e, (Announce, Withdraw)) and e.peer is not None
    ]
    assert order[:2] == [
        ("Announce", FRA, ["10.100.0.0/16", "10.101.0.0/16"]),
        ("Announce", AMS, ["10.100.0.0/16", "10.101.0.0/16"]),
    ]
    eng.handle(RoutesWithdrawn(FRA, 4, AWS_ROUTES[:2]), 1.0)  # two prefixes now leave only by ams
    eng.flush(1.0)
    assert eng.return_counts["tgw"] == Counter({("fra", "ams"): 1, ("ams",): 2})
    eng.handle(RoutesWithdrawn(AMS, 4, AWS_ROUTES[:2]), 2.0)  # gone from the RIB: their counts go too
    eng.flush(2.0)
    assert eng.return_counts["tgw"] == Counter({("fra", "ams"): 1})
    eng.reload(parse(yaml_edited(CONFIG, lambda d: d["cloud_peers"].pop()), "t.yaml"), 3.0)
    assert eng.return_wanted(LON, "10.101.0.0/16") is None  # its peer removed: nothing kept for it
    assert LON not in eng.return_plan.routes
