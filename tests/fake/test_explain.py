"""explain reads right for a prefix nobody exports and for an egress compliance blocks (FakeExaBGP tier)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from bgpsteer.config.loader import parse
from bgpsteer.noc import commands as noc
from bgpsteer.noc import queries
from lab.textedit import named, yaml_edited
from tests.fake.world import AWS, CONFIG, CORE, GCP
from tests.fake_exabgp import Clock, FakeExaBGP, state, update


def _bound(doc: dict[str, Any]) -> None:
    """ams abroad (US), EU-bound data that only fra may carry, and a prefix set the import policy rejects."""
    named(doc["egresses"], "ams").update(region="us-east", jurisdiction="US")
    doc["sets"] = {"prefix": {"eu-data": ["44.0.0.0/16 le 24"], "bad": ["45.0.0.0/16 le 24"]}}
    doc["compliance"] = [{"name": "gdpr", "prefixes": "eu-data", "jurisdictions": ["EU"]}]
    doc["policy"]["import"]["statements"] = [{"name": "no-bad", "match": {"prefix": "bad"}, "then": "reject"}]


BOUND = yaml_edited(CONFIG, _bound)


def run_explain(fake: FakeExaBGP, prefix: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], str]:
    """The agent's answer, and the CLI's rendering of it (the socket replaced by the answer)."""
    x = queries.explain(fake.agent.view, prefix, None, fake.agent.ledger)
    monkeypatch.setattr(noc, "call", lambda path, cmd, **args: x)
    result = CliRunner().invoke(noc.explain, [prefix, "--socket", "unused.sock"])
    assert result.exit_code == 0, result.output
    return x, result.output


def test_explain_says_why_nothing_is_announced_and_what_compliance_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeExaBGP(parse(BOUND, "fake.yaml"), Clock())
    fake.agent.start()
    fake.feed(
        state(CORE),
        state(AWS),
        state(GCP),
        update(AWS, ["44.0.1.0/24", "45.0.1.0/24"]),
        update(GCP, ["44.0.1.0/24", "45.0.1.0/24"], asn=16550),
    )
    x, text = run_explain(fake, "44.0.1.0/24", monkeypatch)
    ams = next(e for e in x["egresses"] if e["egress"] == "ams")
    assert ams["blocked_by"] == "compliance"
    assert ams["trace"] == []
    assert not ams["exported"]
    assert "leaves through fra" in text
    assert "NOT exported (compliance)" in text
    assert "export policy: not consulted" in text
    x, text = run_explain(fake, "45.0.1.0/24", monkeypatch)
    assert x["primary"] is None
    assert "leaves through None" not in text
    assert "not announced to the core (every candidate rejected by import policy" in text
