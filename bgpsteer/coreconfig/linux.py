"""A Linux core: nftables marks the class's packets, an ip rule sends each mark to the class's kernel table, and
BIRD fills that table from the class's BGP session with bgpsteer.

Why this mechanism: it needs no VRF devices (the lab's kernel has none), every part is stock Debian (nftables,
iproute2, bird2), and the default table stays with whatever BGP daemon the core already runs (FRR in the lab);
BIRD binds only to the class session's address (``strict bind``), so both listen on port 179 side by side.  A
table without a route for a packet falls through to the next rule: the default table (fail open, as a VRF with a
default route to the global table would); only resolved paths enter the class's kernel table, so a prefix whose
class paths are all out of service falls through too, to the default table's path (compliance holds in both).
"""

from __future__ import annotations

from bgpsteer.coreconfig.plan import ClassPlan, Plan, port_ranges

NFT_TABLE = "bgpsteer_classes"
RULE_PRIORITY_BASE = 1000  # ip rule priorities 1001, 1002, ... (before the main table's 32766)


def _proto(c: ClassPlan) -> list[str]:
    """Protocol and destination-port terms (one nft rule each)."""
    protos = list(c.app_class.protocols)
    ranges = port_ranges(c.app_class.ports)
    ports = ", ".join(f"{lo}-{hi}" if hi != lo else str(lo) for lo, hi in ranges)
    if ranges:
        l4 = [p for p in protos if p in ("tcp", "udp", "sctp")] or ["tcp", "udp"]
        return [f"meta l4proto {{ {', '.join(l4)} }} th dport {{ {ports} }}"]
    if protos:
        return [f"meta l4proto {{ {', '.join(protos)} }}"]
    return [""]


def nftables(p: Plan) -> str:
    lines = [
        f"# bgpsteer application classes: generated from {p.source or 'the config'} by `bgpsteer core-config`",
        "# first match wins, in config order; the mark is the class's kernel table (ip rule fwmark N table N)",
        f"table inet {NFT_TABLE} {{",
        "  chain classify {",
    ]
    for c in p.classes:
        if c.matches_everything:
            lines.append(f"    # class {c.name}: no match configured, nothing is put into table {c.table}")
            continue
        for family, fam_kw in (("ipv4", "ip"), ("ipv6", "ip6")):
            if family not in c.families:
                continue
            terms = [f"meta nfproto {family}"]
            if c.app_class.dscp:
                terms.append(f"{fam_kw} dscp {{ {', '.join(str(d) for d in c.app_class.dscp)} }}")
            dst = c.destinations(family)
            if c.app_class.prefixes and not dst:
                continue  # the class is bound to destinations, none of this family
            if dst:
                terms.append(f"{fam_kw} daddr {{ {', '.join(dst)} }}")
            for proto in _proto(c):
                words = " ".join(t for t in [*terms, proto] if t)
                lines.append(f'    {words} meta mark set {c.table} counter accept comment "class {c.name}"')
    lines += [
        "  }",
        "  chain prerouting {",
        "    type filter hook prerouting priority mangle; policy accept;",
        "    jump classify",
        "  }",
        "  chain output {",
        "    type route hook output priority mangle; policy accept;",
        "    jump classify",
        "  }",
        "}",
    ]
    for name in p.unserved:
        lines.append(f"# class {name}: no core session has `class: {name}`; its traffic uses the default table")
    return "\n".join(lines) + "\n"


def ip_rules(p: Plan) -> str:
    lines = [
        "#!/bin/sh",
        "# bgpsteer application classes: each class's mark looks up the class's table (filled by BIRD, bird.conf);",
        "# a packet the class table has no route for falls through to the main table",
        "set -e",
    ]
    for i, c in enumerate(p.classes, 1):
        for family, flag in (("ipv4", "-4"), ("ipv6", "-6")):
            if family in c.families:
                prio = RULE_PRIORITY_BASE + i
                lines.append(
                    f"ip {flag} rule del priority {prio} 2>/dev/null || true\n"
                    f"ip {flag} rule add priority {prio} fwmark {c.table} table {c.table}  # class {c.name}"
                )
    return "\n".join(lines) + "\n"


def bird_import_filters(p: Plan) -> list[str]:
    """``bgpsteer_import4`` / ``6``: BIRD resolves a recursive next-hop only through a route that is not recursive
    itself, so the egress next-hop routes (NH_E, announced with the egress's gateway) are made direct here; every
    steered path then resolves through them, and withdrawing one NH_E moves all of that egress's paths at once."""
    out = []
    for v, hosts in (("4", [f"{h}/32" for h in p.next_hops4]), ("6", [f"{h}/128" for h in p.next_hops6])):
        out.append(f"filter bgpsteer_import{v} {{")
        if hosts:
            out.append(f"  if net ~ [ {', '.join(hosts)} ] then gw = bgp_next_hop;")
        out += ["  accept;", "}"]
    return out


def bird(p: Plan) -> str:
    lines = [
        f"# bgpsteer application classes: generated from {p.source or 'the config'} by `bgpsteer core-config`",
        "# one BGP session per class with bgpsteer, into its own table, exported to the class's kernel table",
        "protocol device {}",
        *bird_import_filters(p),
    ]
    for c in p.classes:
        for family in c.families:
            v = "4" if family == "ipv4" else "6"
            lines.append(f"{family} table bgpsteer_{c.symbol}{v};")
        channels = " ".join(f"{f} {{ table bgpsteer_{c.symbol}{f[-1]}; }};" for f in c.families)
        lines.append(f"protocol direct bgpsteer_{c.symbol}_direct {{ {channels} }}")
        for i, s in enumerate(c.sessions):
            nbr = s.local_address or c.bgpsteer_address
            lines += [
                f"protocol bgp bgpsteer_{c.symbol}{i or ''} {{",
                f'  description "bgpsteer class {c.name} ({s.name})";',
                f"  local {s.address} as {s.asn};",
                f"  neighbor {nbr} as {c.local_asn};",
                "  strict bind on;  # only this session's address: other BGP sessions on the router keep theirs",
                f"  hold time {c.hold_time};",
            ]
            for family in s.families:
                v = family[-1]
                lines.append(
                    f"  {family} {{ table bgpsteer_{c.symbol}{v}; add paths rx; import filter bgpsteer_import{v}; "
                    "export none; };"
                )
            lines.append("}")
        for family in c.families:
            lines += [
                f"protocol kernel bgpsteer_{c.symbol}_kernel{family[-1]} {{",
                f"  kernel table {c.table};",
                *(["  merge paths on;  # steering.multipath: one route, a next-hop per egress"] if p.multipath else []),
                f"  {family} {{ table bgpsteer_{c.symbol}{family[-1]}; import none;",
                "    export where source = RTS_BGP && dest = RTD_UNICAST; };  # resolved paths only: else fall through",
                "}",
            ]
    return "\n".join(lines) + "\n"


def render(p: Plan) -> dict[str, str]:
    """File name -> contents."""
    return {"classes.nft": nftables(p), "ip-rules.sh": ip_rules(p), "bird-classes.conf": bird(p)}
