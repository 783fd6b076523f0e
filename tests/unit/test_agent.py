"""The agent adapter, driven line by line without ExaBGP: bad input never kills it."""

import asyncio
from pathlib import Path

import pytest

from bgpsteer.config.loader import ConfigError, load
from bgpsteer.runtime.agent import Agent

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT / "tests/contract/captures/exabgp-5.0.15.jsonl"


def make() -> tuple[Agent, list[bytes]]:
    out: list[bytes] = []
    cfg = load(ROOT / "lab/lab.yaml")
    return Agent(str(ROOT / "lab/lab.yaml"), cfg, out.append, clock=lambda: 0.0), out


def test_garbage_is_counted_and_skipped() -> None:
    agent, out = make()
    for line in ["{bad", "", "random words", '{"type": "update"}', "\x00\xff", "[]"]:
        agent.on_line(line)
    agent.flush()
    assert agent.malformed == 5
    assert out == []


def test_captured_session_produces_announcements() -> None:
    agent, out = make()
    lines = CAPTURE.read_text().splitlines()  # capture peer 10.250.1.2 is aws-tgw-fra in lab.yaml
    for line in lines[: next(i for i, x in enumerate(lines) if '"withdraw"' in x)]:  # before the session ends
        agent.on_line(line)
    agent.flush()
    text = b"".join(out).decode()
    assert "neighbor 10.250.0.2 announce attributes path-information 1 next-hop 10.255.0.1" in text
    assert "local-preference 0" in text  # the capture carries graceful-shutdown 65535:0


def test_ack_errors_name_the_command(caplog: pytest.LogCaptureFixture) -> None:
    agent, _out = make()
    agent.send("neighbor 10.250.0.2 announce attributes bogus")
    agent.send("neighbor 10.250.0.2 announce attributes fine")
    agent.on_line("error")
    agent.on_line("done")
    assert agent.acks_error == 1
    assert agent.acks_ok == 1
    (record,) = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert "attributes bogus" in record.getMessage()
    assert "fine" not in record.getMessage()


def test_failed_reload_keeps_running_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: {local_asn: x}\n")
    agent, _ = make()
    before = agent.engine.config
    agent.config_path = str(bad)
    with pytest.raises(ConfigError):
        asyncio.run(agent.reload())
    assert agent.engine.config is before
    assert agent.reload_failures == 1
