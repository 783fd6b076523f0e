"""`bgpsteer fleet` (bgpsteer/noc/fleet.py): an agent read from its control socket's answers and from its metrics
page says the same; disagreements inside a hub are found, and only there (FakeExaBGP tier and pure)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from bgpsteer.config.loader import parse
from bgpsteer.noc import fleet as fl
from bgpsteer.noc import queries
from bgpsteer.noc.fleet import Agent, Disagreement, EgressState, disagreements, from_answers, from_metrics_text
from bgpsteer.noc.fleet_cli import fleet as fleet_cmd
from bgpsteer.noc.metrics import Metrics
from tests.fake.world import AWS, CONFIG, CORE, GCP, SIX
from tests.fake_exabgp import Clock, FakeExaBGP, state, update


def agent(drain: str | None = None) -> FakeExaBGP:
    f = FakeExaBGP(parse(CONFIG, "fake.yaml"), Clock())
    f.agent.start()
    f.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX[:3], asn=16550))
    if drain is not None:
        f.agent.apply(f.agent.engine.drain(drain, True, f.agent.clock(), decide=True))
    return f


def by_socket(name: str, f: FakeExaBGP) -> Agent:
    a = f.agent
    return from_answers(name, "sock", queries.status(a), queries.egresses(a.view, a.clock()))


def by_metrics(name: str, f: FakeExaBGP) -> Agent:
    return from_metrics_text(name, "http://x", Metrics(f.agent).render().decode())


@pytest.mark.parametrize("drain", [None, "ams"])
def test_the_socket_and_the_metrics_page_say_the_same(drain: str | None) -> None:
    f = agent(drain)
    s, m = by_socket("fra/a", f), by_metrics("fra/a", f)
    assert s.egresses == m.egresses
    assert (s.fail_static, s.prefixes, s.digest) == (m.fail_static, m.prefixes, m.digest)
    assert s.prefixes == len(SIX)
    assert s.egresses["ams"].drained == (drain == "ams")
    assert s.egresses["fra"].paths == len(SIX)


def test_a_drain_on_one_agent_of_a_pair_is_a_disagreement_of_its_hub_only() -> None:
    drained, plain = agent("ams"), agent()
    agents = [by_socket("fra/a", drained), by_metrics("fra/b", plain), by_socket("sin/a", plain)]
    assert disagreements(agents) == [Disagreement("fra", "ams", "drained", ("fra/a",), ("fra/b",))]


def state_of(in_service: bool, classes: dict[str, bool] | None = None) -> EgressState:
    return EgressState("up" if in_service else "down", in_service, False, classes=classes or {})


def test_service_class_and_missing_egresses_disagree_and_unreachable_agents_do_not() -> None:
    a = Agent("h/a", "s", egresses={"e1": state_of(True, {"rt": True}), "e2": state_of(True, {"rt": True})})
    b = Agent("h/b", "s", egresses={"e1": state_of(True, {"rt": False})})
    dead = Agent("h/c", "s", error="no answer")
    lone = Agent("x/a", "s", egresses={"e1": state_of(False)})
    assert disagreements([a, b, dead, lone]) == [
        Disagreement("h", "e1", "class rt", ("h/a",), ("h/b",)),
        Disagreement("h", "e2", "in service", ("h/a",), ("h/b",)),  # h/b has no e2: a config difference
    ]  # e2's class rt splits them as e2 does: not repeated
    assert disagreements([a, Agent("h/b", "s", egresses=a.egresses)]) == []


def test_the_cli_shows_every_agent_the_disagreement_and_exits_3_when_one_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drained, plain = agent("ams"), agent()
    answers: dict[str, Any] = {"a.sock": by_socket("fra/a", drained), "b.sock": by_socket("fra/b", plain)}

    def read(name: str, source: str, timeout: float = 10.0) -> Agent:
        found = answers.get(source)
        return Agent(name, source, error="control socket gone") if found is None else found

    monkeypatch.setattr("bgpsteer.noc.fleet_cli.read", read)
    ok = CliRunner().invoke(fleet_cmd, ["--agent", "fra/a=a.sock", "--agent", "fra/b=b.sock"])
    assert ok.exit_code == 0, ok.output
    assert "DISAGREE: hub fra: egress ams drained on fra/a, not on fra/b" in ok.output
    assert "in service (drained)" in ok.output
    gone = CliRunner().invoke(fleet_cmd, ["--agent", "fra/a=a.sock", "--agent", "sin/a=c.sock", "--json"])
    assert gone.exit_code == 3
    assert '"error": "control socket gone"' in gone.output
    bad = CliRunner().invoke(fleet_cmd, ["--agent", "fra/a="])
    assert bad.exit_code == 2
    assert "expected [HUB/]NAME=SOCKET" in bad.output


def test_a_page_that_is_not_bgpsteers_is_an_error_not_an_empty_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="not a bgpsteer metrics endpoint"):
        from_metrics_text("a", "http://x", "# HELP up x\n# TYPE up gauge\nup 1\n")
    got = fl.read("a", "http://127.0.0.1:9/metrics", timeout=0.5)  # nothing listens on the loopback's port 9
    assert got.error is not None
    got = fl.read("a", "/nonexistent/control.sock", timeout=0.5)
    assert got.error is not None
    assert "does not exist" in got.error
