"""The bgpsteer command line."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bgpsteer import __version__
from bgpsteer.config.loader import ConfigError, load
from bgpsteer.core.config import Config
from bgpsteer.core.providers import profile
from bgpsteer.core.reconcile import SETTLE
from bgpsteer.core.returnpath import clouds_of, limit
from bgpsteer.exitcodes import ExitCode

if TYPE_CHECKING:
    from bgpsteer.replay.rerun import Move


def _load_or_exit(path: str) -> Config:
    try:
        return load(path)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.issues)} error(s) in {path}", err=True)
        sys.exit(ExitCode.USAGE)


@click.group()
@click.version_option(__version__, prog_name="bgpsteer")
def main() -> None:
    """BGP route-server agent that steers multi-cloud VPN egress (runs under ExaBGP)."""


@main.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def check(config: str, as_json: bool) -> None:
    """Validate CONFIG; report every error (file:line:column key: message)."""
    cfg = _load_or_exit(config)
    from bgpsteer.tunnels.runner import missing_devices

    warnings = [*cfg.warnings, *missing_devices(cfg.egresses, config)]
    summary = {
        "file": config,
        "digest": cfg.digest,
        "local_asn": cfg.agent.local_asn,
        "egresses": [
            {
                "id": e.id,
                "region": e.region,
                "jurisdiction": e.jurisdiction,
                "cost_per_gb": e.cost_per_gb,
                "next_hop": e.next_hop,
                "next_hop6": e.next_hop6,
                "path_id": e.path_id,
            }
            for e in cfg.egresses
        ],
        "cloud_peers": [
            {
                "name": p.name,
                "address": p.address,
                "asn": p.asn,
                "egress": p.egress,
                "provider": p.provider,
                "region": p.region,
                "families": list(p.families),
            }
            for p in cfg.cloud_peers
        ],
        "core_routers": [
            {"name": c.name, "address": c.address, "asn": c.asn, "families": list(c.families), "class": c.app_class}
            for c in cfg.core_routers
        ],
        "probes": {
            e.id: None
            if e.probe is None
            else {
                "type": e.probe.kind,
                "targets": list(e.probe.targets),
                "interval": e.probe.interval,
                "fall": e.health.fall,
                "rise": e.health.rise,
                "hold_down": e.health.hold_down,
            }
            for e in cfg.egresses
        },
        "classes": [
            {
                "name": c.name,
                "latency_ms": c.max_latency_ms,
                "loss_pct": c.max_loss_pct,
                "jitter_ms": c.max_jitter_ms,
                "objective": c.objective,
            }
            for c in cfg.app_classes
        ],
        "compliance": [
            {"name": r.name, "prefixes": r.prefixes.name, "jurisdictions": sorted(r.jurisdictions)}
            for r in cfg.compliance
        ],
        "import": {"default": cfg.import_policy.default, "statements": [s.name for s in cfg.import_policy.statements]},
        "export": {"default": cfg.export_policy.default, "statements": [s.name for s in cfg.export_policy.statements]},
        "warnings": warnings,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    click.echo(
        f"{config}: OK (digest {cfg.digest}, local AS {cfg.agent.local_asn})"
        + (f", {len(warnings)} warning(s)" if warnings else "")
    )
    click.echo(
        f"  egresses     {len(cfg.egresses)}: "
        + ", ".join(
            f"{e.id} [{e.jurisdiction}, {e.region}, nh {e.next_hop}, path-id {e.path_id}]" for e in cfg.egresses
        )
    )
    click.echo(
        f"  cloud peers  {len(cfg.cloud_peers)}: "
        + ", ".join(f"{p.name} {p.address} AS{p.asn} via {p.egress}" for p in cfg.cloud_peers)
    )
    click.echo(
        f"  core routers {len(cfg.core_routers)}: "
        + ", ".join(
            f"{c.name} {c.address}" + (f" (class {c.app_class})" if c.app_class else "") for c in cfg.core_routers
        )
    )
    probes = [
        f"{e.id}: {e.probe.kind} x{len(e.probe.targets)} every {e.probe.interval:g}s, fall {e.health.fall}"
        for e in cfg.egresses
        if e.probe
    ]
    click.echo(f"  probes       {', '.join(probes) or 'none: every egress is always in service'}")
    if cfg.app_classes:
        click.echo(
            f"  classes      {len(cfg.app_classes)}: " + ", ".join(f"{c.name} ({c.objective})" for c in cfg.app_classes)
        )
    if cfg.compliance:
        click.echo(
            f"  compliance   {len(cfg.compliance)}: "
            + ", ".join(
                f"{r.name}: {r.prefixes.name} only via {'/'.join(sorted(r.jurisdictions))}" for r in cfg.compliance
            )
        )
    if cfg.site is not None:
        click.echo(f"  site         {len(cfg.site.prefixes)} prefix(es) to the clouds: " + _clouds(cfg))
        if (learn := cfg.site.learn) is not None:
            routers = ", ".join(learn.routers) or "every core router"
            click.echo(
                f"               and up to {learn.max} learned from {routers} inside prefix set {learn.prefixes.name}"
                + (f" tagged with community set {learn.community_set}" if learn.community_set else "")
            )
    for name, pol in (("import", cfg.import_policy), ("export", cfg.export_policy)):
        click.echo(
            f"  {name:<12} {len(pol.statements)} statement(s), default {pol.default}: "
            + ", ".join(s.name for s in pol.statements)
        )


@main.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the schema to this file instead of printing it."
)
def schema(output: str | None) -> None:
    """Print the JSON Schema of bgpsteer's config (for editors: a YAML language server validates and completes with
    it)."""
    from bgpsteer.config.schema import build

    text = json.dumps(build(), indent=1) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text)
        click.echo(f"wrote {output}")


@main.command("exabgp-config")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", type=click.Path(file_okay=False), help="Write exabgp.conf and exabgp.env into this directory."
)
@click.option("--command", help="Command line ExaBGP runs as the helper (default: this Python with -m bgpsteer run).")
def exabgp_config(config: str, output: str | None, command: str | None) -> None:
    """Render the ExaBGP configuration that runs bgpsteer for CONFIG."""
    from bgpsteer.exabgp.render import env_text, render

    cfg = _load_or_exit(config)
    text = render(cfg, config, command)
    secret = any(p.password for p in cfg.cloud_peers) or any(c.password for c in cfg.core_routers)
    if output is None:
        # the environment is not optional (without exabgp_api_ack=true every command's ack is missing): printed
        # where it cannot be missed, as comments at the top of what is piped, and on stderr
        env = env_text()
        click.echo(
            "# ExaBGP must run with this environment (exabgp.env; `-o DIR` writes both files):\n"
            + "".join(f"#   {line}\n" for line in env.splitlines())
            + text
        )
        click.echo(
            "note: ExaBGP must run with the environment in the comments at the top (or use -o DIR to get exabgp.env)"
            + ("; this output holds TCP-MD5 passwords" if secret else ""),
            err=True,
        )
        return
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    conf = out / "exabgp.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600 if secret else 0o644)  # written only once its mode is set: a password is never world-readable
    conf.write_text(text + "\n")
    (out / "exabgp.env").write_text(env_text())
    click.echo(
        f"wrote {conf}"
        + (" (mode 0600: it holds TCP-MD5 passwords; ExaBGP's user must be able to read it)" if secret else "")
        + f" and {out / 'exabgp.env'} (ExaBGP must run with this environment: exabgp_api_ack=true and others)"
    )


@main.command("test")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("tests", type=click.Path(dir_okay=False))
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), help="Also write JUnit XML for CI.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def test_policy(policy: str, tests: str, junit_file: str | None, as_json: bool) -> None:
    """Run the policy test cases in TESTS against POLICY, without any daemon (exit 1 if a case fails)."""
    from bgpsteer.policytest.cases import load_cases
    from bgpsteer.policytest.runner import coverage, junit, run_case, table

    cfg = _load_or_exit(policy)
    try:
        text = Path(tests).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        click.echo(f"{tests}: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    try:
        cases = load_cases(text, tests, cfg)
    except ConfigError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.issues)} error(s) in {tests}", err=True)
        sys.exit(ExitCode.USAGE)
    results = [run_case(cfg, c) for c in cases]
    uncovered = coverage(cfg, results)
    statements = len(cfg.import_policy.statements) + len(cfg.export_policy.statements)
    if junit_file:
        Path(junit_file).write_bytes(junit(results, Path(tests).stem))
    if as_json:
        click.echo(
            json.dumps(
                {
                    "cases": [{"name": r.case.name, "ok": r.ok, "failures": r.failures} for r in results],
                    "uncovered": uncovered,
                    "statements": statements,
                },
                indent=2,
            )
        )
    else:
        click.echo(table(results, uncovered, statements))
    sys.exit(0 if all(r.ok for r in results) else 1)


@main.command("replay")
@click.argument("recording", type=click.Path(exists=True))
@click.option("--run", "run_id", help="Which run of the recording directory (default: the newest; see --list).")
@click.option("--list", "list_runs", is_flag=True, help="List the runs the recording holds.")
@click.option("--config", "new_config", type=click.Path(dir_okay=False), help="Replay under this policy instead.")
@click.option("--from", "since", help="Show from this time: epoch seconds, ISO 8601 (UTC) or +SECONDS from start.")
@click.option("--until", help="Show up to this time (same forms as --from).")
@click.option("--verify", "journal_file", type=click.Path(dir_okay=False), help="Check against this journal.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def replay(
    recording: str,
    run_id: str | None,
    list_runs: bool,
    new_config: str | None,
    since: str | None,
    until: str | None,
    journal_file: str | None,
    as_json: bool,
) -> None:
    """Re-run the core on a flight recording (STATE_DIR/recording): its decisions, the moves of every prefix,
    and with --config what that policy would have done on the same inputs.  --verify exits 1 unless the
    re-run makes exactly the decisions the journal holds."""
    from bgpsteer.replay import recording as rec
    from bgpsteer.replay import report
    from bgpsteer.replay.rerun import rerun

    try:
        if list_runs:
            for r in rec.runs(Path(recording)):
                size = sum(p.stat().st_size for p in r.segments)
                state = "" if r.complete else "  (start removed by the size bound: not replayable)"
                click.echo(f"{r.run}  {len(r.segments)} segment(s), {size} bytes{state}")
            return
        run = rec.find(Path(recording), run_id)
        recorded = rerun(run, rec.records(run))
        other = rerun(run, rec.records(run), _load_or_exit(new_config)) if new_config else None
    except rec.RecordingError as exc:
        click.echo(f"replay: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    start = recorded.first or 0.0
    try:
        t0 = report.parse_time(since, start) if since else None
        t1 = report.parse_time(until, start) if until else None
    except ValueError as exc:
        click.echo(f"replay: --from/--until: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    checked, problems = report.verify(recorded, Path(journal_file)) if journal_file else (0, [])
    rows = list(report.window(recorded.rows, t0, t1))
    moves = list(report.window(recorded.moves, t0, t1))
    diffs = report.differences(recorded.moves, other.moves) if other else []
    diffs = [d for d in diffs if (t0 is None or d["time"] >= t0) and (t1 is None or d["time"] <= t1)]
    if as_json:
        doc: dict[str, object] = {
            "run": run.run,
            "records": recorded.records,
            "first": recorded.first,
            "last": recorded.last,
            "configs": recorded.configs,
            "decisions": rows,
            "moves": [_move(m) for m in moves],
        }
        if journal_file:
            doc["verify"] = {"compared": checked, "problems": problems}
        if other is not None:
            doc["new_policy"] = {
                "config": new_config,
                "decisions": list(report.window(other.rows, t0, t1)),
                "moves": [_move(m) for m in report.window(other.moves, t0, t1)],
                "differences": diffs,
                "skipped": other.skipped,
            }
        click.echo(json.dumps(doc, indent=1, default=str))
    else:
        span = f"{report.stamp(start)} .. {report.stamp(recorded.last)}" if recorded.last else "empty"
        click.echo(f"run {run.run}: {recorded.records} records, {span}, configs {', '.join(recorded.configs)}")
        click.echo(f"\ndecisions ({len(rows)} records):")
        click.echo("\n".join("  " + line for line in report.decisions_text(rows)) or "  none")
        click.echo(f"\nprimary egress moves ({len(moves)}):")
        click.echo("\n".join("  " + line for line in report.moves_text(moves)) or "  none")
        if other is not None:
            click.echo(f"\nunder {new_config}: {len(diffs)} prefix(es) would have left differently")
            click.echo("\n".join("  " + line for line in report.differences_text(diffs)) or "  none")
            for s in other.skipped:
                click.echo(f"  skipped: {s}")
        if journal_file:
            verdict = "every decision reproduced exactly" if not problems else "DIFFERS from the journal"
            click.echo(f"\nverify against {journal_file}: {checked} records compared, {verdict}")
            for p in problems:
                click.echo("  " + p)
    sys.exit(1 if problems else 0)


def _move(m: Move) -> dict[str, object]:
    return dataclasses.asdict(m)


@main.command("core-config")
@click.argument("config", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    type=click.Choice(["linux", "cisco", "juniper", "frr-bmp"]),
    default="linux",
    show_default=True,
    help="linux: nftables + ip rules + BIRD; cisco: IOS-XE PBR + VRF; juniper: filter-based forwarding "
    "(each: the class tables); frr-bmp: the bmp targets block of every core monitored by BMP.",
)
@click.option("-o", "--output", type=click.Path(file_okay=False), help="Write the files into this folder.")
@click.option(
    "--table-base",
    type=click.IntRange(1, 250),
    default=100,
    show_default=True,
    help="The first class gets table (and mark) BASE+1.",
)
def core_config(config: str, target: str, output: str | None, table_base: int) -> None:
    """Render what a core router needs: each application class's traffic into the class's table, or (frr-bmp)
    the BMP station's targets for the closed loop."""
    from bgpsteer.coreconfig import frr, linux, vendors
    from bgpsteer.coreconfig.plan import plan

    loaded = _load_or_exit(config)
    p = plan(loaded, table_base)
    if target == "frr-bmp":
        files = {"frr-bmp.conf": frr.bmp(loaded)}
    elif target == "linux":
        files = linux.render(p)
    else:
        files = {f"{target}.conf": vendors.cisco(p) if target == "cisco" else vendors.juniper(p)}
    if output is None:
        for name, text in files.items():
            click.echo(f"# ---- {name}\n{text}", nl=False)
        return
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
        click.echo(f"wrote {out / name}")


@main.command()
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False), help="bgpsteer YAML configuration.")
@click.option(
    "--settle",
    default=SETTLE,
    show_default=True,
    help="After a restart: seconds a cloud peer must be quiet (without End-of-RIB) before its table counts as "
    "relearned.",
)
def run(config: str, settle: float) -> None:
    """Run as ExaBGP's helper process (ExaBGP starts this; it speaks on stdin/stdout)."""
    from bgpsteer.noc.side import NOC
    from bgpsteer.runtime.serve import run as run_agent

    _load_or_exit(config)
    sys.exit(run_agent(config, NOC, settle))  # the composition root: the runtime gets the NOC's adapters here


@main.command()
@click.argument("state", type=click.Path(dir_okay=False, exists=True))
@click.option("--prefix", help="Explain one prefix.")
@click.option("--rejected", is_flag=True, help="List rejected routes and why.")
def inspect(state: str, prefix: str | None, rejected: bool) -> None:
    """Read a state dump (written by the agent on SIGUSR1 to STATE_DIR/state.json)."""
    data = json.loads(Path(state).read_text())
    if prefix:
        ex = data["explain"].get(prefix)
        if ex is None:
            click.echo(f"{prefix}: not in the RIB", err=True)
            sys.exit(ExitCode.NOT_FOUND)
        click.echo(json.dumps(ex, indent=2))
    elif rejected:
        for r in data["rejected"]:
            click.echo(f"{r['prefix']:<24} {r['peer']:<16} {r['trace'][-1]}")
    else:
        click.echo(json.dumps({k: data[k] for k in ("time", "config", "peers", "stats")}, indent=2))


@main.command()
@click.argument("kind", type=click.Choice(["icmp", "tcp", "udp", "http"]))
@click.argument("target")
@click.option("--port", type=int, help="Port (tcp, udp; http defaults to 80/443).")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds per probe.")
@click.option("--source", help="Source address (the egress path).")
@click.option("--device", help="Interface or VRF to bind to (SO_BINDTODEVICE).")
@click.option(
    "--count", default=1, show_default=True, type=click.IntRange(1, 100), help="Probes, one per second at most."
)
def probe(
    kind: str, target: str, port: int | None, timeout: float, source: str | None, device: str | None, count: int
) -> None:
    """Send probes as the agent would (exit 0 if the last one answered): check a probe config by hand."""
    import asyncio

    from bgpsteer.core.model import Probe
    from bgpsteer.probes.runner import probe_once

    spec = Probe(kind, (target,), port, 1.0, timeout, source, device)  # type: ignore[arg-type]

    async def go() -> bool:
        good = False
        for i in range(count):
            if i:
                await asyncio.sleep(max(0.0, 1.0 - timeout))
            s = await probe_once(spec, target)
            good = s.ok
            result = f"{s.rtt_ms:.3f} ms" if s.ok and s.rtt_ms is not None else f"FAILED: {s.reason}"
            click.echo(f"{target}: {kind} {result}")
        return good

    sys.exit(0 if asyncio.run(go()) else 1)


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: eval "$(bgpsteer completion bash)"."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(main, {}, "bgpsteer", "_BGPSTEER_COMPLETE").source())


def _register() -> None:
    from bgpsteer.noc.commands import CLI
    from bgpsteer.noc.fleet_cli import fleet

    for cmd in (*CLI, fleet):
        main.add_command(cmd)


_register()

if __name__ == "__main__":
    main()


def _clouds(cfg: Config) -> str:
    """Each cloud the site is announced to: its sessions' egresses, its provider's knob and route limit."""
    out = []
    for name, peers in (clouds_of(cfg.site, cfg.cloud_peers) if cfg.site is not None else {}).items():
        prof = profile(peers[0].provider)
        limits = {limit(p) for p in peers}
        cap = "no limit" if limits == {None} else "limit " + "/".join(str(n) for n in sorted(n for n in limits if n))
        out.append(f"{name} ({prof.name}, by {prof.knob}, {cap}) via {'/'.join(p.egress for p in peers)}")
    return "; ".join(out) or "none"
