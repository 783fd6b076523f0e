"""`bgpsteer fleet`: the CLI view across agents (bgpsteer/noc/fleet.py reads them)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import click

from bgpsteer.exitcodes import ExitCode
from bgpsteer.noc.fleet import Agent, Disagreement, disagreements, parse_spec, read, read_all
from bgpsteer.noc.render import emit, table


def _cell(a: Agent, egress: str) -> str:
    if a.error is not None:
        return "?"
    s = a.egresses.get(egress)
    if s is None:
        return "(not configured)"
    word = "in service" if s.in_service else "OUT"
    extra = [s.health] if s.health != "up" else []
    if s.drained:
        extra.append("drained")
    if s.latency_ms is not None:
        extra.append(f"{s.latency_ms:.1f}ms")
    if s.loss_pct:
        extra.append(f"{s.loss_pct:.0f}% loss")
    return f"{word} ({', '.join(extra)})" if extra else word


def _consequence(d: Disagreement) -> str:
    if d.what == "in service":
        # docs/operations.md "A redundant pair": a path via E stays usable on the core while any route server
        # announces NH_E
        return "the core keeps using it while any of them has it in service"
    if d.what == "drained":
        return "repeat the drain (or undrain) on every agent: bgpsteer drain EGRESS --socket A --socket B"
    return "the class's sessions keep it while any of them has it in service"


def human(agents: list[Agent], disagree: list[Disagreement]) -> str:
    out = [
        table(
            [
                [
                    a.name,
                    a.source,
                    "ok" if a.error is None else "UNREACHABLE",
                    a.prefixes,
                    None if a.error else ("FAIL STATIC" if a.fail_static else "no"),
                    a.digest,
                ]
                for a in agents
            ],
            ["AGENT", "SOURCE", "STATE", "PREFIXES", "FAIL STATIC", "CONFIG"],
        )
    ]
    out += [click.style(f"{a.name}: {a.error}", fg="red") for a in agents if a.error is not None]
    egresses = sorted({e for a in agents for e in a.egresses})
    if egresses:
        out += [
            "",
            table([[e, *(_cell(a, e) for a in agents)] for e in egresses], ["EGRESS", *(a.name for a in agents)]),
        ]
    for d in disagree:
        where = f"hub {d.hub}: " if d.hub else ""
        out.append(
            click.style(
                f"DISAGREE: {where}egress {d.egress} {d.what} on {', '.join(d.yes)}, not on {', '.join(d.no)}: "
                f"{_consequence(d)}",
                fg="yellow",
            )
        )
    return "\n".join(out)


@click.command()
@click.option(
    "--agent",
    "specs",
    multiple=True,
    required=True,
    metavar="[HUB/]NAME=SOURCE",
    help="An agent to read: SOURCE is its control socket or its metrics URL (http://HOST:PORT); repeat for each. "
    "Agents with the same HUB are a pair: their disagreements are shown.",
)
@click.option("--timeout", type=click.FloatRange(0.1, 120), default=10.0, show_default=True, help="Per agent.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for tools.")
def fleet(specs: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Every agent's egresses side by side, and where the agents of a hub disagree.

    Exits 3 when an agent could not be read (the others are still shown)."""
    try:
        parsed = [parse_spec(s) for s in specs]
    except ValueError as exc:
        click.echo(f"bgpsteer: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    agents = read_all(parsed, lambda name, source: read(name, source, timeout))
    disagree = disagreements(agents)
    data: dict[str, Any] = {
        "agents": [dataclasses.asdict(a) | {"hub": a.hub} for a in agents],
        "disagreements": [dataclasses.asdict(d) for d in disagree],
    }
    emit(as_json, data, lambda _: human(agents, disagree))
    sys.exit(ExitCode.UNREACHABLE if any(a.error for a in agents) else ExitCode.OK)
