"""Run policy test cases against the pure core: one fresh Engine per case, no daemon, no clock but 0.

Each case's outcome is read through the core's read API (explain: the same words `bgpsteer explain` prints), and
statement coverage is counted from the traces: a statement is covered when some case's import or export trace
shows it matched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from bgpsteer.core.attrs import Attrs, parse_community, parse_large_community
from bgpsteer.core.config import Config
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import RoutesAnnounced
from bgpsteer.core.family import afi_of
from bgpsteer.core.view import CoreView
from bgpsteer.policytest.cases import Case, Route


@dataclass
class Result:
    case: Case
    failures: list[str] = field(default_factory=list)
    explain: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def _announce(eng: Engine, config: Config, r: Route) -> None:
    peer = next(p for p in config.cloud_peers if p.name == r.peer)
    afi = afi_of(r.prefix)
    attrs = Attrs(
        next_hop=r.next_hop or peer.address,
        origin=r.origin,
        as_path=r.as_path if r.as_path is not None else (peer.asn,),
        med=r.med,
        communities=r.communities,
        large_communities=r.large_communities,
    )
    eng.handle(RoutesAnnounced(peer.address, afi, attrs, [r.prefix]), 0.0)


def _engine(config: Config, case: Case) -> Engine:
    eng = Engine(config)
    eng.start(0.0)
    for egress, state in case.egresses.items():
        if state == "down":
            eng.assume_down(egress, 0.0)
        else:
            eng.drain(egress, True, 0.0)
    for r in (case.route, *case.also):
        _announce(eng, config, r)
    eng.flush(0.0)
    return eng


Seen = tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]  # (candidate, its announced path, explain)


def _attr(key: str) -> Callable[[Any, Seen], str | None]:
    def check(want: Any, seen: Seen) -> str | None:
        _, announced, _ = seen
        got: Any = "not announced"
        if announced is not None:
            got = announced["attrs"][key]
            if key == "communities":
                got = sorted(parse_community(x) for x in got)
            elif key == "large_communities":
                got = sorted(parse_large_community(x) for x in got)
        return None if got == want else f"{key}: expected {want}, got {got}"

    return check


def _accepted(want: Any, seen: Seen) -> str | None:
    c = seen[0]
    return None if c["accepted"] == want else f"accepted: expected {want}, got {c['accepted']} ({c['trace'][-1]})"


def _reason(want: Any, seen: Seen) -> str | None:
    c = seen[0]
    return None if any(want in t for t in c["trace"]) else f"reason: expected one containing {want!r}, got {c['trace']}"


def _statement(want: Any, seen: Seen) -> str | None:
    c = seen[0]
    hit = any(f"statement {want!r} matched" in t for t in c["trace"])
    return None if hit else f"statement: {want!r} did not match; trace {c['trace']}"


def _egress(want: Any, seen: Seen) -> str | None:
    got = seen[2]["primary"]
    return None if got == want else f"egress: expected {want}, the core uses {got}"


def _ranking(want: Any, seen: Seen) -> str | None:
    got = [r["egress"] for r in seen[2]["ranking"] if r["in_service"]]
    return None if got == want else f"ranking: expected {want}, got {got}"


def _not_via(want: Any, seen: Seen) -> str | None:
    bad = sorted({a["egress"] for a in seen[2]["announced"]} & set(want))
    return f"not_via: announced through {', '.join(bad)}" if bad else None


CHECKS: dict[str, Callable[[Any, Seen], str | None]] = {
    "accepted": _accepted,
    "reason": _reason,
    "statement": _statement,
    "local_pref": _attr("local_pref"),
    "med": _attr("med"),
    "communities": _attr("communities"),
    "large_communities": _attr("large_communities"),
    "egress": _egress,
    "ranking": _ranking,
    "not_via": _not_via,
}


def run_case(config: Config, case: Case) -> Result:
    eng = _engine(config, case)
    res = Result(case)
    view = CoreView(eng)
    ex = res.explain = view.explain(case.route.prefix, view.scope(case.app_class))
    cand = next((c for c in ex["candidates"] if c["peer"] == case.route.peer), None) if ex else None
    if ex is None or cand is None:
        res.failures.append(f"{case.route.prefix}: no route from {case.route.peer} in the RIB")
        return res
    announced = next((a for a in ex["announced"] if a["egress"] == cand["egress"]), None)
    for key, want in case.expect.items():
        why = CHECKS[key](want, (cand, announced, ex))
        if why:
            res.failures.append(why)
    return res


def coverage(config: Config, results: list[Result]) -> dict[str, list[str]]:
    """Policy -> its statements no case reached (matched)."""
    traces: list[str] = []
    for r in results:
        if r.explain is None:
            continue
        for c in r.explain["candidates"]:
            traces += c["trace"]
        for e in r.explain["egresses"]:
            traces += e["trace"]
    out = {}
    for pol in (config.import_policy, config.export_policy):
        out[pol.name] = [
            st.name
            for st in pol.statements
            if not any(f"{pol.name} statement {st.name!r} matched" in t for t in traces)
        ]
    return out


def table(results: list[Result], uncovered: dict[str, list[str]], statements: int) -> str:
    lines = []
    for r in results:
        mark = "ok  " if r.ok else "FAIL"
        lines.append(f"{mark} {r.case.name}")
        for f in r.failures:
            lines.append(f"       {f}")
        if not r.ok and r.explain is not None:
            lines.append("       trace:")
            for c in r.explain["candidates"]:
                lines.append(f"         {c['peer']}: " + " | ".join(c["trace"]))
            for e in r.explain["egresses"]:
                lines.append(f"         export via {e['egress']}: " + " | ".join(e["trace"] or e["checks"]))
    missed = sum(len(v) for v in uncovered.values())
    failed = sum(1 for r in results if not r.ok)
    lines.append("")
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    for pol, names in uncovered.items():
        lines.append(f"{pol} statements no case reached: {', '.join(names) if names else 'none'}")
    if statements:
        done = statements - missed
        lines.append(f"statement coverage: {done} of {statements} ({100 * done / statements:.0f}%)")
    return "\n".join(lines)


def junit(results: list[Result], suite: str) -> bytes:
    ts = ET.Element("testsuite", name=suite, tests=str(len(results)), failures=str(sum(1 for r in results if not r.ok)))
    for r in results:
        tc = ET.SubElement(ts, "testcase", classname=suite, name=r.case.name, line=str(r.case.line))
        if not r.ok:
            f = ET.SubElement(tc, "failure", message=r.failures[0])
            f.text = "\n".join(r.failures)
    return bytes(ET.tostring(ts, encoding="utf-8", xml_declaration=True))
