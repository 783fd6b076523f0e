"""How the NOC commands' answers read for people: one function per answer (noc/commands.py prints them; --json
prints the answer itself)."""

from __future__ import annotations

import time
from typing import Any

import click

from bgpsteer.noc.render import ago, table


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


def routes_text(r: dict[str, Any]) -> str:
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
    drifting = [(route["prefix"], d) for route in r["routes"] for d in route.get("drift", [])]
    if drifting:
        text += "\n\nNOT as intended on the core (bgpsteer verify):\n" + "\n".join(f"  {p}: {d}" for p, d in drifting)
    if r["match"]:
        text = f"longest match {r['match']}\n" + text
    if r["truncated"]:
        text += f"\n... {r['total'] - len(r['routes'])} more (--limit)"
    return text + "\n(* the egress the core routers use)"


def _unannounced(x: dict[str, Any]) -> str:
    """Why an explained prefix has no egress at the core, in one phrase."""
    if not x["candidates"]:
        return "no cloud peer announces it"
    if not any(c["accepted"] for c in x["candidates"]):
        return "every candidate rejected by import policy or safety: see below"
    if x["egresses"] and not any(e["exported"] for e in x["egresses"]):
        return "no egress exports it: see below"
    return "its egresses are out of service or drained: see below"


def status_text(s: dict[str, Any]) -> str:
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
                "FAIL STATIC: probes say too many egresses are down; the last good state is kept", fg="red", bold=True
            )
        )
    out += [click.style(f"HELD: {h['reason']}", fg="yellow") for h in s.get("held_moves", [])]
    out += _site_learning(s.get("site_learning"))
    out += _return_path(s.get("return_path", []))
    for core, d in sorted(s.get("drift", {}).items()):
        if d["error"]:
            out.append(click.style(f"DRIFT UNKNOWN on {core}: {d['error']}", fg="yellow"))
        elif d["prefixes"]:
            out.append(
                click.style(f"DRIFT on {core}: {d['prefixes']} prefix(es) not as intended (bgpsteer verify)", fg="red")
            )
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
    if s.get("utilization"):
        out += ["", table([_load_row(e) for e in s["utilization"]], LOAD_HEADER)]
    if s.get("flows"):
        out += ["", *_flows(s["flows"])]
    out += [
        "",
        table(
            [[p["name"], p["address"], p["egress"], p["state"], p["routes"], p["accepted"]] for p in s["cloud_peers"]]
            + [[c["name"], c["address"], "(core)", c["state"], "", ""] for c in s["core_routers"]],
            ["PEER", "ADDRESS", "EGRESS", "STATE", "ROUTES", "ACCEPTED"],
        ),
    ]
    return "\n".join(out)


def _tunnel_cell(t: dict[str, Any] | None) -> str:
    """A tunnel's state in a table cell: 'up, handshake 12s ago', 'DOWN', 'unknown'; empty without a tunnel."""
    if not t:
        return ""
    text = t["status"] if t["status"] != "down" else "DOWN"
    if t.get("handshake_age") is not None:
        text += f", handshake {t['handshake_age']:.0f}s ago" + (" (KEY OLD)" if t.get("key_too_old") else "")
    if t.get("sa_expires_in") is not None:
        text += f", SA expires in {t['sa_expires_in']:.0f}s"
    return text


def egress_text(r: dict[str, Any]) -> str:
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
                _tunnel_cell(e.get("tunnel")),
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
            "TUNNEL",
        ],
    )
    for e in r["egresses"]:
        for t, s in e["targets"].items():
            if s["last_failure"]:
                text += f"\n{e['egress']}: target {t}: last failure: {s['last_failure']}"
        if e.get("tunnel"):
            tun = e["tunnel"]
            text += f"\n{e['egress']}: tunnel {tun['status']}: {tun['why']}"
            if e["health"].get("tunnel_down"):
                text += " (holds the egress down until its probes rise again)"
    return text


def peers_text(r: dict[str, Any]) -> str:
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
    rows += [[c["name"], c["address"], c["asn"], "(core)", "", c["state"], "", "", "", ""] for c in r["core_routers"]]
    return table(
        rows, ["PEER", "ADDRESS", "ASN", "EGRESS", "PROVIDER", "STATE", "ROUTES", "ACCEPTED", "REFUSED", "LAST REASON"]
    )


def site_text(x: dict[str, Any]) -> str:
    """explain for the site's own prefixes: per cloud, each session's routes and the session the cloud picks."""
    origin = f"; {x['origin']}" if x.get("origin") else ""
    out = [click.style(f"{x['target']}", bold=True) + f": site prefix {x['site_prefix']} (the return path{origin})"]
    for c in x["clouds"]:
        picks = ", ".join(c["cloud_picks"]) or "none of our sessions"
        out.append(
            f"  {c['cloud']} ({c['provider']}, picks by {' > '.join(c['order'])}): answers through "
            + click.style(picks, bold=True)
            + f"; bgpsteer wants {c['answers_through'] or 'none (no egress in service)'}: {c['why']}"
            + (" [halves: an egress of this cloud is out]" if c["split"] else "")
        )
        for s in c["sessions"]:
            routes = "; ".join(
                f"{a['prefix']} {a['role']} med {a['med']} prepends {a['prepends']}"
                + (f" [{'; '.join(a['policy'])}]" if a.get("policy") else "")
                + ("" if a["exabgp"] == "accepted" else f" [{a['exabgp'].upper()} by ExaBGP]")
                for a in s["announced"]
            )
            left = "; ".join(s["left_out"])
            out.append(
                f"    {s['peer']} via {s['egress']} ({s['routes']}/{s['limit'] if s['limit'] is not None else '-'} "
                f"routes): {routes or 'nothing'}" + (f" (left out: {left})" if left else "")
            )
    return "\n".join(out)


def explain_text(x: dict[str, Any], target: str | None) -> str:
    if "site_prefix" in x:
        return site_text(x)
    if x.get("core_only"):
        return "\n".join(
            [
                click.style(x["match"], bold=True)
                + (f" (longest match for {target})" if x["match"] != target else "")
                + ": bgpsteer announces nothing for it, yet a core holds it",
                "\nwhat the core holds (closed loop, last reading):",
                *(_core_line(c) for c in x["core_view"]),
            ]
        )
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
    out.append("\nranking at the core (local-pref, as-path, origin, MED within one neighbour AS; out-of-service last):")
    out += [
        f"  {r['rank']}. {r['egress']} local-pref {r['local_pref']} med {r['med'] if r['med'] is not None else '-'}"
        f"{'' if r['in_service'] else ' (OUT OF SERVICE)'}"
        f"{' (tie with the one above: the core decides)' if r.get('tied_with_previous') else ''}"
        + ("" if r.get("exabgp", "accepted") == "accepted" else f" ({r['exabgp'].upper()} BY EXABGP: not on the core)")
        for r in x["ranking"]
    ] or ["  nothing announced"]
    out.append("\nannounced to core routers:")
    out += [f"  {c['name']} {c['address']}: {', '.join(c['announced']) or 'nothing'}" for c in x["core_routers"]]
    if x.get("core_view"):
        out.append("\nwhat the core holds (closed loop, last reading):")
        out += [_core_line(c) for c in x["core_view"]]
    if x.get("return"):
        out.append("\nreturn path (the cloud's answers to the site):")
        out += [
            f"  {r['cloud']} answers through {r['answers_through'] or 'NONE'}: {r['why']}"
            + (" [halves: an egress of this cloud is out]" if r["split"] else "")
            for r in x["return"]
        ]
    return "\n".join(out)


def _core_line(c: dict[str, Any]) -> str:
    who = f"  {c['core']} ({c['source']}): "
    if c["state"] == "unknown":
        return who + f"unknown: {c['why']}"
    paths = [p for p in c["held"] if p["egress"] is not None]
    best = next((p for p in paths if p["best"]), None)
    if c["source"] == "cli":
        what = f"uses {best['egress']} (local-pref {best['local_pref']})" if best else "uses none of bgpsteer's paths"
    else:
        what = "holds after its policy " + (
            ", ".join(f"via {p['egress']} local-pref {p['local_pref']}" for p in paths) or "none of bgpsteer's paths"
        )
    if c["state"] == "as intended":
        return who + what + ", as intended"
    return who + click.style("NOT as intended: ", bold=True) + "; ".join(c["drift"])


def simulate_text(r: dict[str, Any]) -> str:
    degraded = [f"{e} " + ", ".join(f"{k.split('_')[0]} {v:g}" for k, v in m.items()) for e, m in r["degrade"].items()]
    what = " + ".join(
        ([f"fail {', '.join(r['fail'])}"] if r["fail"] else [])
        + ([f"degrade {'; '.join(degraded)}"] if degraded else [])
        + ([f"config {r['config']}"] if r["config"] else [])
    )
    out = [f"simulation: {what}"]
    if r["fail_static"]:
        out.append(
            click.style(
                "fail static would hold: too many egresses down at once; nothing would move (alarm raised)", fg="yellow"
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
            table([[w["prefix"], w["from"], w["reason"]] for w in r["withdrawn"]], ["PREFIX", "FROM", "WHY NO PATH"]),
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
    if r.get("return_path"):
        out.append("\nreturn path (the clouds' answers to the site):")
        out.append(
            table(
                [
                    [
                        c["cloud"],
                        c["answers_through_now"] or "NONE",
                        c["answers_through_after"] or "NONE",
                        "yes" if c["split_after"] else "",
                        c["route_changes"],
                    ]
                    for c in r["return_path"]
                ],
                ["CLOUD", "ANSWERS VIA NOW", "AFTER", "HALVES", "ROUTE CHANGES"],
            )
        )
    return "\n".join(out)


def reload_text(r: dict[str, Any]) -> str:
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


def history_text(r: dict[str, Any], prefix: str | None) -> str:
    if not r["records"]:
        return f"{prefix}: no journal records in {r['journal']}"
    rows = []
    for x in r["records"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x["t"]))
        if x["kind"] == "route":

            def brief(a: dict[str, Any] | None) -> str:
                return "-" if a is None else f"lp {a['local_pref']} med {a['med']}"

            rows.append([when, x["id"], x["egress"], f"{brief(x['old'])} -> {brief(x['new'])}", x["reason"]])
        elif x["kind"] == "drift":
            what = f"DRIFT {x['drift']}" if x["state"] == "started" else f"drift {x['drift']} ended"
            rows.append([when, "-", f"{x['core']} ({x['source']})", what, x["reason"]])
        else:
            subject = (
                f"egress {x['old']} -> {x['new']}"
                if not x.get("class")
                else f"class {x['class']}: SLA fit {x['old']} -> {x['new']}"
            )
            rows.append(
                [when, x["id"], x["egress"], f"{subject}{'' if x['in_service'] else ' (out of service)'}", x["reason"]]
            )
    return table(rows, ["TIME", "DECISION", "EGRESS", "CHANGE", "REASON"])


LOAD_HEADER = ["EGRESS", "CAPACITY MBIT/S", "LOAD", "FROM", "PREFIXES MOVED OFF"]


def _load_row(e: dict[str, Any]) -> list[str]:
    """An egress's load, and where the number came from: its counter (and why it gives none), or a push."""
    if e["load_pct"] is not None:
        load = (
            f"{e['load_pct']:.0f}% ({e['mbps']:.3g} Mbit/s)" if e.get("mbps") is not None else f"{e['load_pct']:.0f}%"
        )
    else:
        load = "unknown"
    c = e.get("counter")
    if c is not None:
        origin = f"counter: {c['where']}" + (f" ({c['why']})" if c["why"] else "")
    elif e.get("source"):
        origin = f"{e['source']}, {e['age_s']:g}s ago" if e.get("age_s") is not None else str(e["source"])
    else:
        origin = "-"
    return [e["egress"], f"{e['capacity_mbps']:g}", load, origin, str(e["moved_off"])]


def _flows(f: dict[str, Any]) -> list[str]:
    """The flow collector: its exporters, what it dropped, and flows beside counters per egress."""
    head = f"flow collector {f['listen']}" + (f": {f['error']}" if f["error"] else "")
    d = f["dropped"]
    known = f"known for {f['volumes']['prefixes']} prefixes" if f["volumes"]["known"] else "unknown"
    head += (
        f"; volumes {known}"
        f"; dropped: {d['unlisted_exporter']} unlisted, {d['queue_full']} queue full, {d['socket_full']} socket full, "
        f"{d['malformed']} malformed, {d['no_template']} without template"
    )
    rows = [
        [
            e["address"],
            str(e["datagrams"]),
            str(e["flows"]),
            f"1 in {e['sampling']}" if e["sampling"] else "-",
            "never" if e["last_ago_s"] is None else f"{e['last_ago_s']:g}s ago" + (" (silent)" if e["silent"] else ""),
        ]
        for e in f["exporters"]
    ]
    out = [head, table(rows, ["EXPORTER", "DATAGRAMS", "FLOWS", "SAMPLING", "LAST"])]
    if f["per_egress"]:
        out.append(
            table(
                [
                    [
                        p["egress"],
                        f"{p['flow_mbps']:.3g}",
                        "-" if p["counter_mbps"] is None else f"{p['counter_mbps']:.3g}",
                    ]
                    for p in f["per_egress"]
                ],
                ["EGRESS", "FLOWS MBIT/S", "COUNTER MBIT/S"],
            )
        )
    return out


def load_text(r: dict[str, Any]) -> str:
    return table([_load_row(e) for e in r["load"]], LOAD_HEADER)


def _site_learning(x: dict[str, Any] | None) -> list[str]:
    """The site's prefixes learned from the core: what is announced, held, refused."""
    if not x:
        return []
    learned = ", ".join(a["prefix"] for a in x["announced"]) or "none"
    out = [
        "",
        f"site learned from {', '.join(x['routers'])} (prefix set {x['prefix_set']}): {len(x['announced'])} "
        f"announced ({learned})",
    ]
    if x["held"]:
        out.append(
            click.style(
                f"  {x['held']} held: their core session is down, or restored and not yet announced again", fg="yellow"
            )
        )
    if x["over_max"]:
        out.append(click.style(f"  left out by learn.max: {', '.join(x['over_max'])}", fg="yellow"))
    if x["refused"]:
        out.append(f"  refused {x['refused']} core routes; last: {x['last_refused']}")
    return out


def _return_path(sessions: list[dict[str, Any]]) -> list[str]:
    """Per cloud session: the egress its cloud answers through, its routes against its limit, what is left out."""
    if not sessions:
        return []
    rows = [
        [
            r["peer"],
            r["cloud"],
            r["egress"],
            r["answers_through"] or "NONE",
            "preferred" if r["answers_through"] == r["egress"] else ("-" if r["routes"] else "nothing"),
            f"{r['routes']}/{r['limit'] if r['limit'] is not None else '-'}",
            len(r["left_out"]),
        ]
        for r in sessions
    ]
    out = ["", "return path (the site announced to the clouds):"]
    out.append(table(rows, ["PEER", "CLOUD", "EGRESS", "ANSWERS VIA", "THIS SESSION", "ROUTES/LIMIT", "LEFT OUT"]))
    out += [
        click.style(f"  {r['cloud']}: no egress in service; announced on all its sessions (fail static)", fg="red")
        for r in sessions
        if r["answers_through"] is None
    ]
    told: set[str] = set()
    for r in sessions:
        if r.get("asymmetric") and r["cloud"] not in told:
            told.add(r["cloud"])
            out.append(
                click.style(
                    f"  ASYMMETRIC: {r['cloud']} cannot answer {', '.join(r['asymmetric'])} through its outbound "
                    f"egress {r['answers_through'] or '(none in service)'}: replies come back another way "
                    "(explain a site address says why)",
                    fg="yellow",
                )
            )
    return out


def verify_text(r: dict[str, Any]) -> str:
    """Per monitored core router: as intended, or each prefix's drift in words."""
    out = []
    for c in r["cores"]:
        who = f"{c['core']} ({c['source']})"
        if c["error"]:
            out.append(f"{who}: CANNOT VERIFY: {c['error']}")
            continue
        read = f"read {c['read_ago_s']:.0f}s ago"
        if not c["drift"]:
            pending = f"; {c['pending']} difference(s) younger than {c['window_s']:g}s" if c["pending"] else ""
            out.append(f"{who}: as intended ({read}{pending})")
            continue
        out.append(f"{who}: " + click.style(f"{len(c['drift'])} DRIFT", bold=True) + f" ({read})")
        out += [f"  {d['prefix']}: NOT as intended: {d['detail']}" for d in c["drift"]]
    return "\n".join(out)
