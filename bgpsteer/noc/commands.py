"""NOC commands of the CLI: they ask the running agent over its control socket.

For people: aligned tables, colour only on a terminal.  For tools: ``--json``.
Exit codes: ``bgpsteer.exitcodes.ExitCode`` (the README lists them).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bgpsteer.core.decision import DRAINED
from bgpsteer.exitcodes import ExitCode
from bgpsteer.noc.client import DEFAULT_SOCKET, CtlError, call, socket_path
from bgpsteer.noc.protocol import COMMANDS
from bgpsteer.noc.render import emit
from bgpsteer.noc.tables import (
    egress_text,
    explain_text,
    history_text,
    load_text,
    peers_text,
    reload_text,
    routes_text,
    simulate_text,
    status_text,
    verify_text,
)

HELP = {name: c.help for name, c in COMMANDS.items()}  # each NOC command's help, from the protocol's table

_AGENT_CONFIG = click.option(
    "--agent-config",
    "config",
    type=click.Path(dir_okay=False),
    help="Take the control socket path from the agent's config file.",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")


def _opts(fn: Callable[..., Any]) -> Callable[..., Any]:
    @click.option(
        "--socket", "sock", help=f"Control socket (default: $BGPSTEER_SOCKET, the config's, or {DEFAULT_SOCKET})."
    )
    @_AGENT_CONFIG
    @_JSON
    @functools.wraps(fn)
    def wrapper(sock: str | None, config: str | None, as_json: bool, **kw: Any) -> None:
        try:
            path = socket_path(sock, config)
            fn(lambda cmd, **args: call(path, cmd, **args), as_json, **kw)
        except CtlError as exc:
            click.echo(f"bgpsteer: {exc}", err=True)
            sys.exit(exc.code)

    return wrapper


@click.command(help=HELP["status"])
@_opts
def status(ask: Callable[..., Any], as_json: bool) -> None:

    emit(as_json, ask("status"), status_text)


@click.group()
def show() -> None:
    """Show routes, egresses or peers of the running agent."""


@show.command("routes", help=HELP["routes"])
@click.argument("target", required=False)
@click.option("--egress", help="Only prefixes announced through this egress.")
@click.option("--peer", help="Only prefixes learned from this cloud peer.")
@click.option(
    "--class", "cls", help="As the sessions of this application class see them (which egresses are in service)."
)
@click.option("--limit", default=COMMANDS["routes"].defaults["limit"], show_default=True)
@click.option("--drift", is_flag=True, help="Only prefixes a monitored core holds otherwise than intended (verify).")
@_opts
def show_routes(
    ask: Callable[..., Any],
    as_json: bool,
    target: str | None,
    egress: str | None,
    peer: str | None,
    cls: str | None,
    limit: int,
    drift: bool,
) -> None:
    emit(
        as_json,
        ask("routes", target=target, egress=egress, peer=peer, limit=limit, cls=cls, drift=drift or None),
        routes_text,
    )


@show.command("egress", help=HELP["egress"])
@click.argument("egress", required=False)
@_opts
def show_egress(ask: Callable[..., Any], as_json: bool, egress: str | None) -> None:

    emit(as_json, ask("egress", egress=egress), egress_text)


@show.command("peers", help=HELP["peers"])
@_opts
def show_peers(ask: Callable[..., Any], as_json: bool) -> None:

    emit(as_json, ask("peers"), peers_text)


@click.command(help=HELP["explain"])
@click.argument("target", required=False)
@click.option("--class", "cls", help="Explain for this application class's sessions (its SLA checks and ranking).")
@click.option("--codes", is_flag=True, help="Print the stable reason codes (reject, trigger, wire) and exit.")
@_opts
def explain(ask: Callable[..., Any], as_json: bool, target: str | None, cls: str | None, codes: bool) -> None:
    if codes:
        from bgpsteer.core.codes import tables

        t = tables()
        if as_json:
            click.echo(json.dumps(t, indent=2))
        else:
            for name, rows in t.items():
                click.echo(f"{name}:")
                for code, what in rows.items():
                    click.echo(f"  {code:>3}  {what}")
        return
    if target is None:
        raise CtlError("explain needs a PREFIX or ADDRESS (or --codes)", ExitCode.USAGE)

    emit(as_json, ask("explain", target=target, cls=cls), lambda x: explain_text(x, target))


def _rates(items: tuple[str, ...], option: str, name: str = "NAME") -> dict[str, float]:
    """NAME=MBPS options (simulate --load, load --egress/--prefix) as a mapping; a usage error names the item."""
    out: dict[str, float] = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            out[key] = float(value)
        except ValueError:
            raise CtlError(f"--{option} {item!r}: expected {name}=MBPS", ExitCode.USAGE) from None
        if not sep or not key:
            raise CtlError(f"--{option} {item!r}: expected {name}=MBPS", ExitCode.USAGE)
    return out


@click.command(help=HELP["simulate"])
@click.option("--fail", "fail", multiple=True, help="Egress to fail (repeatable).")
@click.option(
    "--degrade",
    "degrade",
    multiple=True,
    help="E:latency=80ms,loss=2%,jitter=5ms: measurements to assume for an egress (repeatable).",
)
@click.option("--load", "load", multiple=True, help="E=MBPS: a utilization to assume for relief (repeatable).")
@click.option(
    "--config",
    "new_config",
    type=click.Path(dir_okay=False, exists=True),
    help="A candidate config (NEW.yaml) to compare with the running one.",
)
@_opts
def simulate(
    ask: Callable[..., Any],
    as_json: bool,
    fail: tuple[str, ...],
    degrade: tuple[str, ...],
    load: tuple[str, ...],
    new_config: str | None,
) -> None:
    if not fail and not new_config and not degrade and not load:
        raise CtlError(
            "nothing to simulate: give --fail EGRESS, --degrade EGRESS:latency=80ms, --load EGRESS=MBPS "
            "and/or --config NEW.yaml",
            ExitCode.USAGE,
        )
    loads = _rates(load, "load", "EGRESS")
    text = None
    if new_config:  # read here, with the caller's own permissions: the agent never opens a path a client names
        try:
            text = Path(new_config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CtlError(f"cannot read {new_config}: {exc}", ExitCode.USAGE) from None
    r = ask(
        "simulate",
        fail=list(fail),
        degrade=_degrade(degrade),
        config=os.path.abspath(new_config) if new_config else None,
        config_text=text,
        load=loads or None,
    )

    emit(as_json, r, simulate_text)


UNITS = {"latency": ("latency_ms", "ms"), "jitter": ("jitter_ms", "ms"), "loss": ("loss_pct", "%")}


def _degrade(specs: tuple[str, ...]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        egress, sep, rest = spec.partition(":")
        if not sep or not rest:
            raise CtlError(f"--degrade {spec!r}: expected EGRESS:latency=80ms,loss=2%,jitter=5ms", ExitCode.USAGE)
        for item in rest.split(","):
            key, _, value = item.partition("=")
            if key not in UNITS:
                raise CtlError(
                    f"--degrade {spec!r}: unknown measurement {key!r} (latency, loss, jitter)", ExitCode.USAGE
                )
            field, unit = UNITS[key]
            try:
                out.setdefault(egress, {})[field] = float(value.removesuffix(unit))
            except ValueError:
                raise CtlError(f"--degrade {spec!r}: {value!r} is not a number of {unit}", ExitCode.USAGE) from None
    return out


def _pair_opts(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Like _opts, but --socket may be repeated: the same command to every agent of a redundant pair
    (docs/operations.md: "A redundant pair"), in order; each agent's answer is reported, and the exit status is the
    first failure's."""

    @click.option(
        "--socket",
        "socks",
        multiple=True,
        help="Control socket; repeat it for every agent of a pair (default: $BGPSTEER_SOCKET, the config's, ...).",
    )
    @_AGENT_CONFIG
    @_JSON
    @functools.wraps(fn)
    def wrapper(socks: tuple[str, ...], config: str | None, as_json: bool, **kw: Any) -> None:
        try:
            paths = list(socks) or [socket_path(None, config)]
        except CtlError as exc:  # an unreadable --agent-config: said, not a traceback
            click.echo(f"bgpsteer: {exc}", err=True)
            sys.exit(exc.code)
        failed: CtlError | None = None
        for path in paths:
            prefix = f"{path}: " if len(paths) > 1 else ""
            try:
                fn(lambda cmd, path=path, **args: call(path, cmd, **args), as_json, prefix=prefix, **kw)
            except CtlError as exc:
                click.echo(f"bgpsteer: {prefix}{exc}", err=True)
                failed = failed or exc
        if failed is not None:
            if len(paths) > 1:
                click.echo("bgpsteer: not every agent took it: the pair disagrees until it is repeated", err=True)
            sys.exit(failed.code)

    return wrapper


@click.command(help=HELP["drain"])
@click.argument("egress")
@_pair_opts
def drain(ask: Callable[..., Any], as_json: bool, egress: str, prefix: str = "") -> None:
    emit(
        as_json,
        ask("drain", egress=egress),
        lambda r: (
            f"{prefix}egress {r['egress']} drained: {r['paths']} path(s) re-announced "
            f"with {DRAINED} ({r['commands_sent']} command(s))"
        ),
    )


@click.command(help=HELP["undrain"])
@click.argument("egress")
@_pair_opts
def undrain(ask: Callable[..., Any], as_json: bool, egress: str, prefix: str = "") -> None:
    emit(
        as_json,
        ask("undrain", egress=egress),
        lambda r: f"{prefix}egress {r['egress']} undrained ({r['commands_sent']} command(s))",
    )


@click.command(help=HELP["reload"])
@_opts
def reload(ask: Callable[..., Any], as_json: bool) -> None:

    emit(as_json, ask("reload"), reload_text)


@click.command(help=HELP["verify"])
@_opts
def verify(ask: Callable[..., Any], as_json: bool) -> None:
    r = ask("verify")
    emit(as_json, r, verify_text)
    if not r["cores"]:
        raise CtlError("no core router has a 'monitor': nothing to verify", ExitCode.USAGE)
    if any(c["error"] for c in r["cores"]):
        sys.exit(ExitCode.UNREACHABLE)
    if any(c["drift"] for c in r["cores"]):
        sys.exit(ExitCode.NOT_FOUND)


@click.command(help=HELP["history"])
@click.argument("prefix")
@click.option("--limit", default=COMMANDS["history"].defaults["limit"], show_default=True)
@_opts
def history(ask: Callable[..., Any], as_json: bool, prefix: str, limit: int) -> None:

    emit(as_json, ask("history", prefix=prefix, limit=limit), lambda r: history_text(r, prefix))


@click.command(help=HELP["measure"])
@click.argument("egress")
@click.option(
    "--sample",
    "samples",
    multiple=True,
    required=True,
    metavar="TARGET=RTT_MS|lost",
    help="One measurement, e.g. 10.99.1.10=12.5 or 10.99.1.11=lost (repeatable: one round).",
)
@_opts
def measure(ask: Callable[..., Any], as_json: bool, egress: str, samples: tuple[str, ...]) -> None:
    parsed = []
    for s in samples:
        target, sep, value = s.partition("=")
        if not sep:
            raise CtlError(f"--sample {s!r}: expected TARGET=RTT_MS or TARGET=lost", ExitCode.USAGE)
        if value == "lost":
            parsed.append({"target": target, "ok": False, "reason": "reported lost"})
        else:
            try:
                parsed.append({"target": target, "ok": True, "rtt_ms": float(value)})
            except ValueError:
                raise CtlError(
                    f"--sample {s!r}: {value!r} is neither a number of milliseconds nor 'lost'", ExitCode.USAGE
                ) from None
    emit(
        as_json,
        ask("measure", egress=egress, samples=parsed),
        lambda r: (
            f"egress {r['egress']}: {r['samples']} sample(s) taken; health {r['health']}, "
            f"{'in service' if r['in_service'] else 'OUT of service'}"
        ),
    )


@click.command("load", help=HELP["load"])
@click.option("--egress", "egresses", multiple=True, help="EGRESS=MBPS: an egress's measured utilization.")
@click.option("--prefix", "prefixes", multiple=True, help="PREFIX=MBPS: a prefix's traffic volume (flow data).")
@_opts
def load(ask: Callable[..., Any], as_json: bool, egresses: tuple[str, ...], prefixes: tuple[str, ...]) -> None:

    if not egresses and not prefixes:
        raise CtlError("nothing to report: give --egress E=MBPS and/or --prefix P=MBPS", ExitCode.USAGE)
    r = ask("load", utilization=_rates(egresses, "egress"), volumes=_rates(prefixes, "prefix"))

    emit(as_json, r, load_text)


CLI = [status, show, explain, simulate, drain, undrain, reload, verify, history, measure, load]
