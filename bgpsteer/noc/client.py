"""Client side of the control socket, with the CLI's exit codes."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from bgpsteer.core.model import AgentSettings, default, socket_in
from bgpsteer.exitcodes import ExitCode
from bgpsteer.noc import protocol

DEFAULT_SOCKET = socket_in(default(AgentSettings, "state_dir"))  # the agent's own default

# exit codes of the NOC commands (names kept for callers)
OK, NOT_FOUND, USAGE, UNREACHABLE, REFUSED, INTERNAL = (
    ExitCode.OK,
    ExitCode.NOT_FOUND,
    ExitCode.USAGE,
    ExitCode.UNREACHABLE,
    ExitCode.REFUSED,
    ExitCode.INTERNAL,
)


class CtlError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def socket_path(explicit: str | None, config: str | None) -> str:
    """--socket, else $BGPSTEER_SOCKET, else the config's agent.control_socket, else the default."""
    if explicit:
        return explicit
    if os.environ.get("BGPSTEER_SOCKET"):
        return os.environ["BGPSTEER_SOCKET"]
    if config:
        from bgpsteer.config.loader import ConfigError, load

        try:
            return load(config).agent.socket_path
        except ConfigError as exc:
            raise CtlError(f"cannot read the socket path from {config}:\n{exc}", USAGE) from None
    return DEFAULT_SOCKET


def call(path: str, cmd: str, timeout: float = 60.0, **args: Any) -> Any:
    problem = protocol.check(cmd, args)  # the server would refuse it: say so without connecting
    if problem is not None:
        raise CtlError(problem, USAGE)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except FileNotFoundError:
        raise CtlError(
            f"control socket {path} does not exist: is the agent running? (set --socket or BGPSTEER_SOCKET)",
            UNREACHABLE,
        ) from None
    except PermissionError:
        raise CtlError(
            f"not permitted to use control socket {path}: run as root or as a member of its group "
            "(agent.control_group)",
            UNREACHABLE,
        ) from None
    except OSError as exc:
        raise CtlError(f"cannot connect to control socket {path}: {exc.strerror or exc}", UNREACHABLE) from None
    try:
        with s, s.makefile("rwb") as f:
            f.write(json.dumps({"cmd": cmd, "args": args}).encode() + b"\n")
            f.flush()
            line = f.readline()
    except (TimeoutError, OSError) as exc:
        raise CtlError(f"no answer from the agent on {path}: {exc}", UNREACHABLE) from None
    if not line:
        raise CtlError(f"the agent closed the control connection on {path} without answering", UNREACHABLE)
    answer = json.loads(line)
    if not answer.get("ok"):
        raise CtlError(answer.get("error", "request failed"), int(answer.get("code", INTERNAL)))
    return answer["result"]
