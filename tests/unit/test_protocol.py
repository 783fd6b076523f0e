"""The control protocol's one table (noc/protocol.py): the server, the client and the CLI all follow it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from bgpsteer.cli import main
from bgpsteer.exitcodes import ExitCode
from bgpsteer.noc import protocol
from bgpsteer.noc.client import CtlError, call
from bgpsteer.noc.server import FORKED, ControlServer

ROOT = Path(__file__).resolve().parents[2]


class _NoAgent:
    """The handlers are built, never called, in these tests."""


def test_the_server_has_a_handler_for_every_command_and_none_other() -> None:
    server = ControlServer(_NoAgent(), "/nonexistent/control.sock")  # type: ignore[arg-type]
    assert set(server.handlers) == set(protocol.COMMANDS)
    assert set(FORKED) <= set(protocol.COMMANDS)


def asked() -> set[str]:
    """Every command name the CLI's NOC commands send (ask("NAME", ...) in noc/commands.py)."""
    tree = ast.parse((ROOT / "bgpsteer/noc/commands.py").read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "ask"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def test_the_cli_sends_every_command_and_only_those() -> None:
    assert asked() == set(protocol.COMMANDS)


def help_of(*path: str) -> str:
    cmd: Any = main
    for name in path:
        cmd = cmd.commands[name]
    return str(cmd.help)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (("status",), "status"),
        (("show", "routes"), "routes"),
        (("show", "egress"), "egress"),
        (("show", "peers"), "peers"),
        (("explain",), "explain"),
        (("simulate",), "simulate"),
        (("drain",), "drain"),
        (("undrain",), "undrain"),
        (("reload",), "reload"),
        (("history",), "history"),
        (("measure",), "measure"),
        (("load",), "load"),
    ],
)
def test_each_cli_command_takes_its_help_from_the_table(path: tuple[str, ...], name: str) -> None:
    assert help_of(*path) == protocol.COMMANDS[name].help


def test_the_cli_defaults_are_the_servers() -> None:
    routes = {p.name: p.default for p in main.commands["show"].commands["routes"].params}  # type: ignore[attr-defined]
    history = {p.name: p.default for p in main.commands["history"].params}
    assert routes["limit"] == protocol.COMMANDS["routes"].defaults["limit"] == 1000
    assert history["limit"] == protocol.COMMANDS["history"].defaults["limit"] == 200
    assert protocol.with_defaults("routes", {"target": None}) == {"limit": 1000}
    assert protocol.with_defaults("routes", {"limit": 5}) == {"limit": 5}


@pytest.mark.parametrize(
    ("cmd", "args", "why"),
    [
        ("nope", {}, "unknown command 'nope'"),
        ("drain", {}, "drain: missing argument egress"),
        ("routes", {"limit": -1}, "routes: argument 'limit' must be an integer (0 .. 10000000)"),
        ("status", {"x": 1}, "status: unknown argument 'x' (takes none)"),
        ("load", {"utilization": {"fra": True}}, "load: argument 'utilization' must be an object of numbers"),
    ],
)
def test_the_client_refuses_what_the_server_would_without_connecting(cmd: str, args: dict[str, Any], why: str) -> None:
    with pytest.raises(CtlError) as err:
        call("/nonexistent/control.sock", cmd, **args)
    assert str(err.value) == why
    assert err.value.code == ExitCode.USAGE
