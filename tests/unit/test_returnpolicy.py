"""The return policy (``policy.return``): the policy language applied to every route the site announces to a
cloud session, after the provider's knob; refused where it cannot work, and seen in explain and asymmetry."""

from __future__ import annotations

from typing import Any

import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.explain_return import explain_site
from bgpsteer.core.returnpath import wire_path_length
from lab.textedit import yaml_edited
from tests.unit.returnpath_world import AMS, CONFIG, FRA, LON, sent, started, with_return


def test_the_policy_sets_med_and_communities_after_the_knob_and_keeps_its_trace() -> None:
    text = with_return(
        {
            "default": "accept",
            "statements": [
                {"name": "tgw-tag", "match": {"provider": "aws"}, "set": {"community": {"add": ["65000:7"]}}},
                {"name": "ams-worse", "match": {"egress": "ams"}, "set": {"med": "+50"}, "then": "accept"},
            ],
        }
    )
    eng, effects = started(text)
    fra, _ = sent(effects, FRA)
    ams, _ = sent(effects, AMS)
    lon, _ = sent(effects, LON)
    assert {p: (a.med, a.communities) for p, a in fra.items()} == {
        "10.100.0.0/16": (100, ((65000, 7),)),
        "10.101.0.0/16": (100, ((65000, 7),)),
    }
    assert {a.med for a in ams.values()} == {250}  # the knob's 200, then +50
    assert lon["10.101.0.0/16"].communities == ()  # azure: no statement matched, the default accepted it
    route = eng.return_plan.routes[AMS]["10.101.0.0/16"]
    assert route.trace == (
        "return statement 'tgw-tag' matched: community add 65000:7",
        "return statement 'ams-worse' matched: med +50; accept",
    )
    x = explain_site(eng.config, eng.return_plan, "10.101.0.1")
    assert x is not None
    tgw = next(c for c in x["clouds"] if c["cloud"] == "tgw")
    ams_session = next(s for s in tgw["sessions"] if s["egress"] == "ams")
    assert ams_session["announced"][0]["policy"] == list(route.trace)
    assert ams_session["announced"][0]["communities"] == ["65000:7"]


def test_a_prepend_onto_the_implicit_path_keeps_our_own_as() -> None:
    pad = {"name": "pad", "match": {"egress": "fra"}, "set": {"as_path_prepend": 2}}
    text = with_return({"default": "accept", "statements": [pad]})
    _, effects = started(text)
    fra, _ = sent(effects, FRA)
    # ExaBGP adds our AS only to an empty path: two prepends plus our AS itself make three on the wire
    assert {a.as_path for a in fra.values()} == {(65000, 65000, 65000)}
    assert {wire_path_length(a) for a in fra.values()} == {3}


def test_a_rejected_route_is_left_out_with_the_statement_that_rejected_it() -> None:
    text = with_return(
        {
            "default": "accept",
            "statements": [{"name": "not-101", "match": {"egress": "ams", "prefix": "eu-data"}, "then": "reject"}],
        }
    )
    eng, effects = started(text)
    ams, _ = sent(effects, AMS)
    assert list(ams) == ["10.101.0.0/16"]
    assert dict(eng.return_plan.left_out[AMS])["10.100.0.0/16"] == (
        "return policy: return statement 'not-101' matched; reject"
    )


def test_a_policy_that_makes_the_backup_win_is_reported_as_asymmetric() -> None:
    text = with_return(
        {"default": "accept", "statements": [{"name": "fra-worse", "match": {"egress": "fra"}, "set": {"med": 500}}]}
    )
    eng, _ = started(text)
    tgw = eng.return_plan.clouds["tgw"]
    assert tgw.preferred == "fra"  # what the outbound decision wants ...
    assert tgw.asymmetric == ("10.100.0.0/16", "10.101.0.0/16")  # ... and what the gateway will not do
    x = explain_site(eng.config, eng.return_plan, "10.100.0.1")
    assert x is not None
    assert next(c for c in x["clouds"] if c["cloud"] == "tgw")["cloud_picks"] == ["ams"]


def test_without_a_return_policy_nothing_is_asymmetric_here() -> None:
    eng, _ = started()
    assert eng.return_plan.clouds["tgw"].asymmetric == ()


@pytest.mark.parametrize(
    ("action", "words"),
    [
        ({"local_pref": 300}, "LOCAL_PREF is not sent to a cloud"),
        ({"next_hop": "10.9.9.9"}, "the next hop towards a cloud is the session's own local address"),
    ],
)
def test_what_a_cloud_route_cannot_carry_is_refused_with_its_line(action: dict[str, Any], words: str) -> None:
    text = with_return({"default": "accept", "statements": [{"name": "x", "set": action}]})
    with pytest.raises(ConfigError) as err:
        parse(text, "t.yaml")
    (issue,) = err.value.issues
    assert issue.path == f"policy.return.statements[0].set.{next(iter(action))}"
    assert words in issue.message
    assert issue.line > 0


def test_a_return_policy_without_a_site_is_warned_about() -> None:
    text = with_return({"default": "accept"}, yaml_edited(CONFIG, lambda d: d.pop("site")))
    assert parse(text, "t.yaml").warnings == (
        "t.yaml: policy.return: no site is announced to the clouds, so it applies to nothing",
    )
