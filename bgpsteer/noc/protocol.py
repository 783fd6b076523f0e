"""The control socket's commands, once: name, arguments and their types, which are required, their defaults, and
the help line.  The server checks requests against it and dispatches by it, the client refuses a request that
does not fit it before connecting, and the CLI takes its help and defaults from it (a test checks that every
command has its CLI command and the server a handler for it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INT_ARG_MAX = 10_000_000  # limits and counts in requests
MBPS_MAX = 100_000_000  # a reported rate above 100 Tbit/s is a unit error
RTT_MAX_MS = 600_000  # a pushed round-trip time above 10 minutes is a unit error

STR, INT, BOOL, STRS, DEGRADE, SAMPLES, RATES = (
    "string",
    "integer",
    "boolean",
    "list of strings",
    "object",
    "list of objects",
    ("object of numbers"),
)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    args: dict[str, str] = field(default_factory=dict)  # argument -> its type (one of the names above)
    required: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)  # what the server takes for an argument left out


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("status", "Sessions, egress health, route counts, last decision, config hash."),
        Command(
            "routes",
            "Announced routes; TARGET is a prefix or an address (longest match, as 'show ip bgp ADDRESS'); "
            "--drift: only those a monitored core holds otherwise than intended.",
            {"target": STR, "egress": STR, "peer": STR, "limit": INT, "cls": STR, "drift": BOOL},
            defaults={"limit": 1000},
        ),
        Command("egress", "Live probe statistics, health state, dampening and drain of egresses.", {"egress": STR}),
        Command("peers", "BGP sessions: cloud peers and core routers."),
        Command(
            "explain",
            "Why a prefix (or address) leaves through its egress: candidates, policy, checks, ranking.",
            {"target": STR, "cls": STR},
            ("target",),
        ),
        Command(
            "drain",
            "Drain EGRESS for maintenance: GRACEFUL_SHUTDOWN (65535:0) and lowest preference on its paths.",
            {"egress": STR},
            ("egress",),
        ),
        Command("undrain", "Return a drained EGRESS to service.", {"egress": STR}, ("egress",)),
        Command("reload", "Validate the agent's config file and apply it atomically (a bad config changes nothing)."),
        Command(
            "verify",
            "Where the monitored core routers hold or use paths otherwise than bgpsteer intends (drift); exits 1 "
            "when there is drift, 3 when a monitored core could not be read.",
        ),
        Command(
            "measure",
            "Push an external measurement round for an egress whose probe type is 'external'.",
            {"egress": STR, "samples": SAMPLES},
            ("egress", "samples"),
        ),
        Command(
            "simulate",
            "What-if on the live state; touches nothing on the network.",
            {"fail": STRS, "degrade": DEGRADE, "config": STR, "config_text": STR, "load": RATES},
        ),
        Command(
            "history",
            "What changed for PREFIX and when, from the decision journal (with its egresses' events).",
            {"prefix": STR, "limit": INT},
            ("prefix",),
            {"limit": 200},
        ),
        Command(
            "load",
            "Report utilization and per-prefix volumes for relief of overloaded egresses (steering.relief).",
            {"utilization": RATES, "volumes": RATES},
        ),
    )
}


def _is(value: Any, kind: str) -> bool:
    if kind == STR:
        return isinstance(value, str)
    if kind == INT:
        return type(value) is int and 0 <= value <= INT_ARG_MAX
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == STRS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == RATES:
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= MBPS_MAX
            for k, x in value.items()
        )
    if kind == DEGRADE:
        return isinstance(value, dict) and all(
            isinstance(m, dict) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in m.values())
            for m in value.values()
        )
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def check(cmd: str, args: dict[str, Any]) -> str | None:
    """Why a request does not fit the protocol, or None (the same words on the client and the server)."""
    command = COMMANDS.get(cmd)
    if command is None:
        return f"unknown command {cmd!r}"
    problem = _args_problem(command, args)
    return f"{cmd}: {problem}" if problem else None


def _args_problem(command: Command, args: dict[str, Any]) -> str | None:
    spec = command.args
    for key, value in args.items():
        if key not in spec:
            return f"unknown argument {key!r}" + (f" (takes {', '.join(spec)})" if spec else " (takes none)")
        if value is not None and not _is(value, spec[key]):
            article = "an" if spec[key][0] in "aeiou" else "a"
            return f"argument {key!r} must be {article} {spec[key]}" + (" (0 .. 10000000)" if spec[key] == INT else "")
    missing = [k for k in command.required if args.get(k) is None]
    return f"missing argument {', '.join(missing)}" if missing else None


def with_defaults(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments with the command's defaults for the ones left out (or given as null)."""
    return {**COMMANDS[cmd].defaults, **{k: v for k, v in args.items() if v is not None}}
