"""The return path as the NOC sees it: status, explain for both directions, simulate, check, and the ledger's
retries towards a cloud."""

from __future__ import annotations

from typing import Any

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.events import Announce, Withdraw
from tests.unit.returnpath_world import AMS, CONFIG, FRA, started


def test_the_noc_sees_each_session_its_limit_and_what_is_left_out() -> None:
    from bgpsteer.core.view import CoreView
    from bgpsteer.noc.tables import _return_path

    eng, _ = started()
    eng.assume_down("fra", 1.0)
    rows = {r.peer: r for r in CoreView(eng).return_path()}
    assert (rows["aws-ams"].preferred, rows["aws-ams"].limit, len(rows["aws-ams"].routes)) == ("ams", 100, 6)
    assert rows["aws-fra"].routes == {}
    assert rows["aws-fra"].left_out[0] == ("10.100.0.0/16", "egress fra out of service: the cloud answers through ams")
    assert rows["azure-lon"].routes["10.101.0.0/16"][0] == "preferred"
    sessions = [
        {
            "peer": r.peer,
            "cloud": r.cloud,
            "egress": r.egress,
            "answers_through": r.preferred,
            "routes": len(r.routes),
            "limit": r.limit,
            "left_out": r.left_out,
        }
        for r in rows.values()
    ]
    text = "\n".join(_return_path(sessions))
    assert "aws-ams" in text
    assert "6/100" in text
    assert "4000" in text


def test_a_refused_batch_to_a_cloud_is_split_and_retried_towards_that_cloud_only() -> None:
    from bgpsteer.core.ledger import Ledger, Sent

    ledger = Ledger()
    batch = Announce(4, 0, Attrs(next_hop="self", med=100), ["10.100.0.0/17", "10.100.128.0/17"], peer=AMS)
    ledger.sent(Sent(AMS, batch, "line", 0.0, 2))
    retry = ledger.ack(False, 1.0).retry
    assert [(n, e.peer, e.prefixes) for n, e in retry] == [
        (AMS, AMS, ["10.100.0.0/17"]),
        (AMS, AMS, ["10.100.128.0/17"]),
    ]
    for n, e in retry:
        ledger.sent(Sent(n, e, "line", 1.0, 1))
    ledger.ack(True, 2.0)
    ledger.ack(False, 2.0)
    assert ledger.state("10.100.128.0/17", 0, AMS) == "rejected"
    assert ledger.state("10.100.128.0/17", 0, FRA) == "accepted"


def test_explain_answers_for_both_directions() -> None:
    from bgpsteer.core.view import CoreView
    from bgpsteer.noc import queries
    from bgpsteer.noc.tables import explain_text

    eng, _ = started()
    eng.assume_down("fra", 1.0)
    view = CoreView(eng)
    site = queries.explain(view, "10.100.200.7")  # an address of the site: the return path
    assert site["site_prefix"] == "10.100.0.0/16"
    tgw = next(c for c in site["clouds"] if c["cloud"] == "tgw")
    assert tgw["cloud_picks"] == ["ams"]  # by AWS's order, over what each session is sent
    assert tgw["answers_through"] == "ams"
    ams = next(s for s in tgw["sessions"] if s["peer"] == "aws-ams")
    assert [a["prefix"] for a in ams["announced"]] == ["10.100.128.0/17", "10.100.0.0/16"]
    lon = next(c for c in site["clouds"] if c["cloud"] != "tgw")
    assert lon["cloud_picks"] == []  # EU-bound: nothing for the UK egress's session
    assert "compliance: UK not in [EU] (gdpr)" in lon["sessions"][0]["left_out"]
    text = explain_text(site, "10.100.200.7")
    assert "answers through ams" in text
    assert "left out: compliance" in text
    cloud = queries.explain(view, "172.31.0.0/16")  # a cloud prefix: both directions
    assert cloud["primary"] == "ams"
    assert cloud["return"] == [
        {"cloud": "tgw", "answers_through": "ams", "why": cloud["return"][0]["why"], "split": True}
    ]
    assert "return path (the cloud's answers to the site):" in explain_text(cloud, "172.31.0.0/16")


def test_simulate_predicts_both_directions_and_the_prediction_comes_true() -> None:
    from bgpsteer.core.view import CoreView
    from bgpsteer.noc.tables import simulate_text

    eng, _ = started()
    r = CoreView(eng).simulate({"fra"}, 1.0)
    tgw = next(c for c in r["return_path"] if c["cloud"] == "tgw")
    assert (tgw["answers_through_now"], tgw["answers_through_after"], tgw["split_after"]) == ("fra", "ams", True)
    predicted = tgw["route_changes"]
    assert "ANSWERS VIA NOW" in simulate_text(r)
    effects = eng.assume_down("fra", 1.0)
    happened = sum(len(e.prefixes) for e in effects if isinstance(e, (Announce, Withdraw)) and e.peer in (FRA, AMS))
    assert predicted == happened == 8  # fra: 2 withdrawn; ams: 2 re-announced preferred + 4 halves


def test_a_cloud_whose_replies_cannot_follow_the_outbound_egress_is_flagged() -> None:
    from bgpsteer.core.view import CoreView

    # the azure cloud's only egress is lon (UK): the EU-bound site prefix can never be answered through it
    eng, _ = started()
    plans = eng.return_plan.clouds
    assert plans["tgw"].asymmetric == ()
    azure = next(c for n, c in plans.items() if n != "tgw")
    assert azure.asymmetric == ("10.100.0.0/16",)
    rows = {r.peer: r for r in CoreView(eng).return_path()}
    assert rows["azure-lon"].asymmetric == ("10.100.0.0/16",)
    eng.assume_down("fra", 1.0)
    eng.assume_down("ams", 2.0)  # the tgw has no egress in service: fail static, every prefix asymmetric
    assert eng.return_plan.clouds["tgw"].preferred is None
    assert eng.return_plan.clouds["tgw"].asymmetric == ("10.100.0.0/16", "10.101.0.0/16")


def test_check_summarises_the_return_path(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from bgpsteer.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    r = CliRunner().invoke(main, ["check", str(path)])
    assert r.exit_code == 0, r.output
    assert (
        "  site         2 prefix(es) to the clouds: tgw (aws, by med, limit 100) via fra/ams; "
        "azure-65515 (azure, by prepend, limit 4000) via lon"
    ) in r.output
