"""The exit codes of bgpsteer's commands, once: the control socket's answers carry them, the CLI exits with them."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    NOT_FOUND = 1  # nothing matches (no route covers the address, ...)
    USAGE = 2  # a bad argument, an unknown name, a config with errors
    UNREACHABLE = 3  # no agent to talk to (no socket, no permission, no answer) or too many connections
    REFUSED = 4  # the agent refused (a reload whose file has errors: the running config is kept)
    INTERNAL = 70  # a bug: the agent's log has the traceback (EX_SOFTWARE)
