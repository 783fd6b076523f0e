"""NOC commands of the CLI: they ask the running agent over its control socket.

For people: aligned tables, colour only on a terminal.  For tools: ``--json``.
Exit codes: ``bgpsteer.exitcodes.ExitCode`` (the README lists them).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from bgpsteer.core.decision import DRAINED
from bgpsteer.exitcodes import ExitCode
from bgpsteer.noc.client import DEFAULT_SOCKET, CtlError, call, socket_path
from bgpsteer.noc.protocol import COMMANDS
from bgpsteer.noc.render import ago, emit, table

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


def _startup(rt: dict[str, Any]) -> str:
    """How far the helper's start has come (after a restart the core keeps stale paths until End-of-RIB)."""
    if rt["table_complete_after_s"] is not None:
        eor = f"; End-of-RIB sent to {', '.join(rt['eor_sent_to'])}" if rt["eor_sent_to"] else ""
        return f"helper pid {rt['pid']}: initial table complete after {rt['table_complete_after_s']:.1f}s{eor}"
    step = (
        "waiting for cloud peers to resend their tables"
        if rt["reconciled"]
        else "reconciling with ExaBGP's adj-RIB-out"
    )
    return click.style(f"helper pid {rt['pid']}: starting: {step}; no End-of-RIB sent yet", fg="yellow")


@click.command(help=HELP["status"])
@_opts
def status(ask: Callable[..., Any], as_json: bool) -> None:

    def human(s: dict[str, Any]) -> str:
        out = [
            f"config {s['config']['file']} digest {s['config']['digest']}; up {s['uptime_s']}s; last decision "
            f"{ago(s['last_decision'])} "
            f"(id {s['decision_id']}); prefixes {s['routes']['prefixes']}"
        ]
        out.append(_startup(s["runtime"]))
        if s["runtime"]["tcp_md5_drops"].get("failure"):
            out.append(
                click.style(
                    f"TCP-MD5: the kernel dropped {s['runtime']['tcp_md5_drops']['failure']} segment(s) with a wrong "
                    "signature "
                    "in this namespace: a password mismatch with a peer (sessions that never come up)",
                    fg="red",
                )
            )
        if s["fail_static"]:
            out.append(
                click.style(
                    "FAIL STATIC: probes say too many egresses are down; the last good state is kept",
                    fg="red",
                    bold=True,
                )
            )
        out += [click.style(f"HELD: {h['reason']}", fg="yellow") for h in s.get("held_moves", [])]
        out += [
            "",
            table(
                [
                    [
                        e["egress"],
                        e["health"],
                        "in service" if e["in_service"] else "OUT",
                        "yes" if e["drained"] else "",
                        e["paths"],
                    ]
                    for e in s["egresses"]
                ],
                ["EGRESS", "HEALTH", "SERVICE", "DRAINED", "PATHS"],
            ),
        ]
        out += [
            "",
            table(
                [
                    [p["name"], p["address"], p["egress"], p["state"], p["routes"], p["accepted"]]
                    for p in s["cloud_peers"]
                ]
                + [[c["name"], c["address"], "(core)", c["state"], "", ""] for c in s["core_routers"]],
                ["PEER", "ADDRESS", "EGRESS", "STATE", "ROUTES", "ACCEPTED"],
            ),
        ]
        return "\n".join(out)

    emit(as_json, ask("status"), human)


@click.group()
def show() -> None:
    """Show routes, egresses or peers of the running agent."""


def _routes_human(r: dict[str, Any]) -> str:
    rows = []
    for route in r["routes"]:
        if not route["paths"]:
            why = "rejected" if not any(c["accepted"] for c in route["candidates"]) else "not exported"
            rows.append([route["prefix"], f"(none: {why}; see explain)", None, None, None, None])
        for p in route["paths"]:
            primary = "*" if p["egress"] == route["primary"] else ""
            rows.append(
                [
                    route["prefix"],
                    primary + p["egress"],
                    "in service" if p["in_service"] else "OUT",
                    p["local_pref"],
                    p["med"],
                    " ".join(map(str, p["as_path"])),
                ]
            )
    text = table(rows, ["PREFIX", "EGRESS", "SERVICE", "LOCPRF", "MED", "AS PATH"])
    if r["match"]:
        text = f"longest match {r['match']}\n" + text
    if r["truncated"]:
        text += f"\n... {r['total'] - len(r['routes'])} more (--limit)"
    return text + "\n(* the egress the core routers use)"


@show.command("routes", help=HELP["routes"])
@click.argument("target", required=False)
@click.option("--egress", help="Only prefixes announced through this egress.")
@click.option("--peer", help="Only prefixes learned from this cloud peer.")
@click.option(
    "--class", "cls", help="As the sessions of this application class see them (which egresses are in service)."
)
@click.option("--limit", default=COMMANDS["routes"].defaults["limit"], show_default=True)
@_opts
def show_routes(
    ask: Callable[..., Any],
    as_json: bool,
    target: str | None,
    egress: str | None,
    peer: str | None,
    cls: str | None,
    limit: int,
) -> None:
    emit(as_json, ask("routes", target=target, egress=egress, peer=peer, limit=limit, cls=cls), _routes_human)


@show.command("egress", help=HELP["egress"])
@click.argument("egress", required=False)
@_opts
def show_egress(ask: Callable[..., Any], as_json: bool, egress: str | None) -> None:

    def human(r: dict[str, Any]) -> str:
        rows = []
        for e in r["egresses"]:
            m, h = e["measured"], e["health"]
            rows.append(
                [
                    e["egress"],
                    e["jurisdiction"],
                    h["state"],
                    "in service" if e["in_service"] else "OUT",
                    "yes" if e["drained"] else "",
                    None if m["latency_ms"] is None else f"{m['latency_ms']:.2f}",
                    None if m["jitter_ms"] is None else f"{m['jitter_ms']:.2f}",
                    None if m["loss_pct"] is None else f"{m['loss_pct']:.1f}",
                    h["penalty"],
                    h["flaps"],
                    e["paths"],
                ]
            )
        text = table(
            rows,
            [
                "EGRESS",
                "JURIS",
                "HEALTH",
                "SERVICE",
                "DRAINED",
                "LAT ms",
                "JIT ms",
                "LOSS %",
                "PENALTY",
                "FLAPS",
                "PATHS",
            ],
        )
        for e in r["egresses"]:
            for t, s in e["targets"].items():
                if s["last_failure"]:
                    text += f"\n{e['egress']}: target {t}: last failure: {s['last_failure']}"
        return text

    emit(as_json, ask("egress", egress=egress), human)


@show.command("peers", help=HELP["peers"])
@_opts
def show_peers(ask: Callable[..., Any], as_json: bool) -> None:

    def human(r: dict[str, Any]) -> str:
        rows = [
            [
                p["name"],
                p["address"],
                p["asn"],
                p["egress"],
                f"{p['provider']}/{p['region']}",
                p["state"],
                p["routes"],
                p["accepted"],
                p["refused"],
                p["reason"],
            ]
            for p in r["cloud_peers"]
        ]
        rows += [
            [c["name"], c["address"], c["asn"], "(core)", "", c["state"], "", "", "", ""] for c in r["core_routers"]
        ]
        return table(
            rows,
            ["PEER", "ADDRESS", "ASN", "EGRESS", "PROVIDER", "STATE", "ROUTES", "ACCEPTED", "REFUSED", "LAST REASON"],
        )

    emit(as_json, ask("peers"), human)


def _unannounced(x: dict[str, Any]) -> str:
    """Why an explained prefix has no egress at the core, in one phrase."""
    if not x["candidates"]:
        return "no cloud peer announces it"
    if not any(c["accepted"] for c in x["candidates"]):
        return "every candidate rejected by import policy or safety: see below"
    if x["egresses"] and not any(e["exported"] for e in x["egresses"]):
        return "no egress exports it: see below"
    return "its egresses are out of service or drained: see below"


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

    def human(x: dict[str, Any]) -> str:
        out = [
            click.style(f"{x['match']}", bold=True)
            + (f" (longest match for {target})" if x["match"] != target else "")
            + (f" [class {x['class']}]" if x.get("class") else "")
            + (
                ": spread over "
                + ", ".join(f"{click.style(e, bold=True)} {s:.0%}" for e, s in x["multipath"].items())
                + " (multipath: one rank; shares by link bandwidth where the core applies it, policies/README.md)"
                if len(x.get("multipath") or {}) > 1
                else f": leaves through {click.style(str(x['primary']), bold=True)}"
                + (" (tie: the core router's own tie-break decides)" if x["tie"] else "")
                if x["primary"] is not None
                else ": " + click.style("not announced to the core", bold=True) + f" ({_unannounced(x)})"
            )
        ]
        if x.get("relief"):
            out.append(click.style(f"moved by relief: {x['relief']['reason']}", fg="yellow"))
        out.append("\ncandidates (as learned, import policy):")
        for c in x["candidates"]:
            out.append(
                f"  {c['peer']} via {c['egress']}: {'accepted' if c['accepted'] else 'REJECTED'}; as-path "
                f"{c['received']['as_path']}"
            )
            out += [f"      {step}" for step in c["trace"]]
        out.append("\nper egress (best candidate, checks, export policy):")
        for e in x["egresses"]:
            out.append(
                f"  {e['egress']}: best {e['best']} ({e['why']}); "
                + ("exported" if e["exported"] else f"NOT exported ({e.get('blocked_by') or 'not announced'})")
            )
            out += [f"      {step}" for step in e.get("checks", []) + e["trace"]]
        out.append(
            "\nranking at the core (local-pref, as-path, origin, MED within one neighbour AS; out-of-service last):"
        )
        out += [
            f"  {r['rank']}. {r['egress']} local-pref {r['local_pref']} med {r['med'] if r['med'] is not None else '-'}"
            f"{'' if r['in_service'] else ' (OUT OF SERVICE)'}"
            f"{' (tie with the one above: the core decides)' if r.get('tied_with_previous') else ''}"
            + (
                ""
                if r.get("exabgp", "accepted") == "accepted"
                else f" ({r['exabgp'].upper()} BY EXABGP: not on the core)"
            )
            for r in x["ranking"]
        ] or ["  nothing announced"]
        out.append("\nannounced to core routers:")
        out += [f"  {c['name']} {c['address']}: {', '.join(c['announced']) or 'nothing'}" for c in x["core_routers"]]
        return "\n".join(out)

    emit(as_json, ask("explain", target=target, cls=cls), human)


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

    def human(r: dict[str, Any]) -> str:
        degraded = [
            f"{e} " + ", ".join(f"{k.split('_')[0]} {v:g}" for k, v in m.items()) for e, m in r["degrade"].items()
        ]
        what = " + ".join(
            ([f"fail {', '.join(r['fail'])}"] if r["fail"] else [])
            + ([f"degrade {'; '.join(degraded)}"] if degraded else [])
            + ([f"config {r['config']}"] if r["config"] else [])
        )
        out = [f"simulation: {what}"]
        if r["fail_static"]:
            out.append(
                click.style(
                    "fail static would hold: too many egresses down at once; nothing would move (alarm raised)",
                    fg="yellow",
                )
            )
        out.append(
            f"{r['moved_total']} prefix(es) would move, {r['withdrawn_total']} would have no usable path, "
            f"{r['unchanged']} unchanged; "
            f"{r['bgp_updates']} BGP update(s) ({r['bgp_updates_detail']['next_hop_changes']} next-hop route "
            "change(s), "
            f"{r['bgp_updates_detail']['path_changes']} path change(s))"
        )
        if r["moved"]:
            out += [
                "",
                table(
                    [[m["prefix"], m["from"], m["to"], "tie" if m["tie"] else ""] for m in r["moved"]],
                    ["PREFIX", "FROM", "TO", ""],
                ),
            ]
        if r["withdrawn"]:
            out += [
                "",
                table(
                    [[w["prefix"], w["from"], w["reason"]] for w in r["withdrawn"]], ["PREFIX", "FROM", "WHY NO PATH"]
                ),
            ]
        if r.get("relief"):
            rel = r["relief"]
            out.append(
                f"\nrelief at the loads given: {len(rel['moved'])} prefix(es) would move, {len(rel['returned'])} return"
            )
            if rel["moved"]:
                out.append(
                    table(
                        [[m["prefix"], m["from"], m["to"], f"{m['volume_mbps']:g}"] for m in rel["moved"]],
                        ["PREFIX", "FROM", "TO", "MBIT/S"],
                    )
                )
        for name, c in r["classes"].items():
            sessions = (
                f"{c['sessions']} core session(s)"
                if c["sessions"]
                else "no core session: its traffic follows the default table"
            )
            out.append(
                f"\nclass {name} ({sessions}): {c['moved_total']} would move, {c['withdrawn_total']} without a path; "
                f"in service after: {', '.join(c['in_service_after']) or 'none'}"
            )
            if c["moved"]:
                out.append(table([[m["prefix"], m["from"], m["to"]] for m in c["moved"]], ["PREFIX", "FROM", "TO"]))
        return "\n".join(out)

    emit(as_json, r, human)


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

    def human(r: dict[str, Any]) -> str:
        text = (
            f"reloaded: digest {r['old_digest']} -> {r['new_digest']}; {r['announced']} path(s) announced, "
            f"{r['withdrawn']} withdrawn"
        )
        if r["changes"]:
            text += "\n" + table(
                [[c["prefix"], c["egress"], c["old"] or "-", c["new"] or "-"] for c in r["changes"]],
                ["PREFIX", "EGRESS", "BEFORE", "AFTER"],
            )
        return text

    emit(as_json, ask("reload"), human)


@click.command(help=HELP["history"])
@click.argument("prefix")
@click.option("--limit", default=COMMANDS["history"].defaults["limit"], show_default=True)
@_opts
def history(ask: Callable[..., Any], as_json: bool, prefix: str, limit: int) -> None:

    def human(r: dict[str, Any]) -> str:
        if not r["records"]:
            return f"{prefix}: no journal records in {r['journal']}"
        rows = []
        for x in r["records"]:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x["t"]))
            if x["kind"] == "route":

                def brief(a: dict[str, Any] | None) -> str:
                    return "-" if a is None else f"lp {a['local_pref']} med {a['med']}"

                rows.append([when, x["id"], x["egress"], f"{brief(x['old'])} -> {brief(x['new'])}", x["reason"]])
            else:
                subject = (
                    f"egress {x['old']} -> {x['new']}"
                    if not x.get("class")
                    else f"class {x['class']}: SLA fit {x['old']} -> {x['new']}"
                )
                rows.append(
                    [
                        when,
                        x["id"],
                        x["egress"],
                        f"{subject}{'' if x['in_service'] else ' (out of service)'}",
                        x["reason"],
                    ]
                )
        return table(rows, ["TIME", "DECISION", "EGRESS", "CHANGE", "REASON"])

    emit(as_json, ask("history", prefix=prefix, limit=limit), human)


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

    def human(r: dict[str, Any]) -> str:
        return table(
            [
                [
                    e["egress"],
                    f"{e['capacity_mbps']:g}",
                    "-" if e["load_pct"] is None else f"{e['load_pct']:.0f}%",
                    str(e["moved_off"]),
                ]
                for e in r["load"]
            ],
            ["EGRESS", "CAPACITY MBIT/S", "LOAD", "PREFIXES MOVED OFF"],
        )

    emit(as_json, r, human)


CLI = [status, show, explain, simulate, drain, undrain, reload, history, measure, load]
