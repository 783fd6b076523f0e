"""The control socket and external measurements, against an in-process agent (no BGP involved)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from bgpsteer.config.loader import parse
from bgpsteer.noc.client import CtlError, call
from bgpsteer.noc.server import ControlServer
from bgpsteer.probes.runner import ProbeRunner
from bgpsteer.runtime.agent import Agent
from lab.textedit import named, yaml_edited

CONFIG = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, next_hop: 10.255.0.1,
     probe: {type: external, targets: [smokeping-fra, thousandeyes-fra], interval: 0.05},
     health: {rise: 1, fall: 3, hold_down: 0, dampening: false}}
  - {id: ams, region: eu-west, jurisdiction: EU, next_hop: 10.255.0.2}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
steering: {max_down: 1}  # one probed egress: let it fail without fail static
policy:
  import: {default: accept}
  export: {default: accept}
"""


def raw(path: str, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.sendall(line)
        answer: dict[str, Any] = json.loads(s.makefile().readline())
        return answer


def test_external_measurements_and_errors(tmp_path: Path) -> None:
    cfg = parse(CONFIG, "t.yaml")
    sent: list[bytes] = []
    sock = str(tmp_path / "control.sock")

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        agent = Agent("t.yaml", cfg, sent.append, clock=loop.time)
        agent.engine.start(loop.time())
        server = ControlServer(agent, sock)
        await server.start()
        agent.probes = ProbeRunner(agent.on_probe, max_rounds=40)  # bounded: 2 s at most
        agent.probes.start(cfg.egresses)

        def ask(cmd: str, **a: Any) -> asyncio.Future[Any]:
            return loop.run_in_executor(None, lambda: call(sock, cmd, **a))

        out: dict[str, Any] = {"mode": stat.S_IMODE(os.stat(sock).st_mode)}
        good = [{"target": "smokeping-fra", "ok": True, "rtt_ms": 12.5}, {"target": "thousandeyes-fra", "ok": False}]
        out["first"] = await ask("measure", egress="fra", samples=good)
        errors = {}
        for name, args in {
            "icmp": {"egress": "ams", "samples": good},
            "target": {"egress": "fra", "samples": [{"target": "x", "ok": True, "rtt_ms": 1}]},
            "rtt": {"egress": "fra", "samples": [{"target": "smokeping-fra", "ok": True}]},
            "unknown": {"egress": "nope", "samples": good},
        }.items():
            try:
                await ask("measure", **args)
            except CtlError as exc:
                errors[name] = (exc.code, str(exc))
        out["errors"] = errors
        out["bad_request"] = await loop.run_in_executor(None, raw, sock, b"not json\n")
        # stop pushing: three silent intervals fail a round each; fall 3 takes fra out of service
        for _ in range(40):
            await asyncio.sleep(0.05)
            if not agent.engine.steering.usable("fra"):
                break
        out["usable_after_silence"] = agent.engine.steering.usable("fra")
        out["egress"] = (await ask("egress", egress="fra"))["egresses"][0]
        agent.probes.stop()
        server.close()
        return out

    out = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert out["mode"] == 0o660
    assert out["first"] == {"egress": "fra", "samples": 2, "health": "up", "in_service": True}
    assert out["errors"]["icmp"][0] == 2
    assert "not configured with probe type external" in out["errors"]["icmp"][1]
    assert out["errors"]["target"][0] == 2
    assert "unknown target 'x'" in out["errors"]["target"][1]
    assert out["errors"]["rtt"][0] == 2
    assert "needs rtt_ms" in out["errors"]["rtt"][1]
    assert out["errors"]["unknown"][0] == 2
    assert out["bad_request"]["ok"] is False
    assert out["bad_request"]["code"] == 2
    assert out["usable_after_silence"] is False
    assert out["egress"]["targets"]["smokeping-fra"]["last_failure"].startswith("no external measurement for")
    assert out["egress"]["targets"]["smokeping-fra"]["latency_ms"] == 12.5
    lines = b"".join(sent).decode().splitlines()
    assert [x for x in lines if x.startswith("neighbor 10.0.0.2 withdraw") and x.endswith("nlri 10.255.0.1/32")], lines


def test_cli_without_agent_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CtlError) as exc:
        call(str(tmp_path / "absent.sock"), "status")
    assert exc.value.code == 3
    assert "does not exist" in str(exc.value)


def test_the_socket_cannot_be_used_against_the_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bgpsteer.noc import server as control

    monkeypatch.setattr(control, "MAX_CLIENTS", 3)
    monkeypatch.setattr(control, "IDLE_TIMEOUT", 1.0)
    cfg = parse(CONFIG, "t.yaml")
    sock = str(tmp_path / "control.sock")
    secret = tmp_path / "secret.yaml"
    secret.write_text("root-only: the agent must not read this for a client\n")
    os.chmod(secret, 0o600)

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        agent = Agent("t.yaml", cfg, lambda b: None, clock=loop.time)
        server = ControlServer(agent, sock)
        await server.start()
        out: dict[str, Any] = {}

        def req(obj: dict[str, Any]) -> dict[str, Any]:
            return raw(sock, json.dumps(obj).encode() + b"\n")

        def ask(obj: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
            return loop.run_in_executor(None, req, obj)

        out["limit"] = await ask({"cmd": "routes", "args": {"limit": "x"}})
        out["args"] = await ask({"cmd": "drain", "args": {"egress": 1}})
        out["unknown_arg"] = await ask({"cmd": "status", "args": {"verbose": True}})
        out["missing"] = await ask({"cmd": "explain", "args": {}})
        out["path"] = await ask({"cmd": "simulate", "args": {"config": str(secret)}})
        out["text"] = await ask({"cmd": "simulate", "args": {"config": "cand.yaml", "config_text": "agent: [\n"}})

        # idle connections are closed, and no more than MAX_CLIENTS are served at once
        async def until(n: int) -> None:
            for _ in range(300):  # bounded (3 s): connections come and go on the loop, slowly on a loaded machine
                if server.clients == n:
                    return
                await asyncio.sleep(0.01)

        await until(0)  # the requests above have closed their connections
        idle = [socket.socket(socket.AF_UNIX) for _ in range(3)]
        for s in idle:
            s.connect(sock)
        await until(3)
        out["clients"] = server.clients
        out["over_cap"] = await ask({"cmd": "status"})
        await until(0)  # closed by the idle timeout
        out["after_idle"] = await ask({"cmd": "status"})
        for s in idle:
            s.close()
        server.close()
        return out

    out = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert out["limit"]["code"] == 2
    assert "'limit' must be an integer" in out["limit"]["error"]
    assert out["args"]["code"] == 2
    assert "'egress' must be a string" in out["args"]["error"]
    assert out["unknown_arg"]["code"] == 2
    assert "unknown argument 'verbose'" in out["unknown_arg"]["error"]
    assert out["missing"]["code"] == 2
    assert "missing argument target" in out["missing"]["error"]
    assert out["path"]["code"] == 2
    assert "root-only" not in out["path"]["error"]
    assert out["text"]["code"] == 2
    assert "cand.yaml" in out["text"]["error"]
    assert out["clients"] == 3
    assert out["over_cap"]["code"] == 3
    assert "too many control connections" in out["over_cap"]["error"]
    assert out["after_idle"]["ok"] is True


def test_an_unknown_control_group_leaves_the_socket_root_only_and_the_agent_running(tmp_path: Path) -> None:
    cfg = parse(yaml_edited(CONFIG, lambda doc: doc["agent"].update(control_group="nosuchgroup-bgpsteer")), "t.yaml")
    assert any("group 'nosuchgroup-bgpsteer' does not exist" in w for w in cfg.warnings)  # check says so
    sock = tmp_path / "control.sock"

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        server = ControlServer(Agent("t.yaml", cfg, lambda b: None, clock=loop.time), str(sock), "nosuchgroup-bgpsteer")
        await server.start()  # no KeyError
        mode = os.stat(sock).st_mode & 0o777
        server.close()
        return mode

    assert asyncio.run(scenario()) == 0o600


def test_exit_codes_are_defined_once() -> None:
    """Every code the socket or the CLI produces is an ExitCode, and the README lists each one."""
    import re

    from bgpsteer.exitcodes import ExitCode

    root = Path(__file__).resolve().parents[2]
    literal = re.compile(r'"code": \d|(?:QueryError|CtlError)\([^)]*, \d+\)|sys\.exit\([1-9]\d*\)')
    offenders = [
        f"{p.name}: {m.group(0)}" for p in (root / "bgpsteer").rglob("*.py") for m in literal.finditer(p.read_text())
    ]
    assert not offenders, offenders
    readme = (root / "README.md").read_text()
    assert all(f"{int(c)} " in readme.split("exit codes", 1)[1][:400] for c in ExitCode)


def test_load_reports_over_the_socket(tmp_path: Path) -> None:

    def change(doc: dict[str, Any]) -> None:
        named(doc["egresses"], "fra")["capacity_mbps"] = 1000
        named(doc["egresses"], "ams")["capacity_mbps"] = 500
        doc["steering"]["relief"] = {"hold": 0}

    text = yaml_edited(CONFIG, change)
    cfg = parse(text, "t.yaml")
    sock = str(tmp_path / "control.sock")

    async def scenario() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        agent = Agent("t.yaml", cfg, lambda _: None, clock=loop.time)
        agent.engine.start(loop.time())
        server = ControlServer(agent, sock)
        await server.start()

        def ask(cmd: str, **a: Any) -> asyncio.Future[Any]:
            return loop.run_in_executor(None, lambda: call(sock, cmd, **a))

        out: dict[str, Any] = {"ok": await ask("load", utilization={"fra": 250, "ams": 100}, volumes={})}
        errors = {}
        bad: dict[str, dict[str, Any]] = {
            "egress": {"utilization": {"nope": 1}},
            "prefix": {"volumes": {"not-a-prefix": 1}},
            "negative": {"utilization": {"fra": -1}},
            "type": {"utilization": {"fra": "x"}},
        }
        for name, args in bad.items():
            try:
                await ask("load", **args)
            except CtlError as exc:
                errors[name] = (exc.code, str(exc))
        out["errors"] = errors
        server.close()
        return out

    out = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert [
        {k: e[k] for k in ("egress", "capacity_mbps", "load_pct", "mbps", "source", "moved_off")}
        for e in out["ok"]["load"]
    ] == [
        {"egress": "ams", "capacity_mbps": 500.0, "load_pct": 20.0, "mbps": 100.0, "source": "pushed", "moved_off": 0},
        {"egress": "fra", "capacity_mbps": 1000.0, "load_pct": 25.0, "mbps": 250.0, "source": "pushed", "moved_off": 0},
    ]
    assert {k: c for k, (c, _) in out["errors"].items()} == {"egress": 2, "prefix": 2, "negative": 2, "type": 2}
    assert "unknown egress 'nope'" in out["errors"]["egress"][1]
    assert "not a prefix: 'not-a-prefix'" in out["errors"]["prefix"][1]
    assert "must be an object of numbers" in out["errors"]["negative"][1]
