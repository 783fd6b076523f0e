"""Cisco IOS-XE and Junos cores: the same plan as configuration snippets (golden-file tested as text; no such
router runs here).

- IOS-XE: an ACL per class and family, a PBR route-map that sets the class's VRF (``set vrf``), the VRF with its
  own iBGP session with bgpsteer (ADD-PATH receive), applied with ``ip policy`` on the site-facing interfaces.
- Junos: filter-based forwarding: a firewall filter term per class whose action is ``routing-instance``, a
  virtual-router instance per class with its own iBGP group (ADD-PATH receive), the filter on the site-facing
  interfaces.
"""

from __future__ import annotations

from bgpsteer.coreconfig.plan import ClassPlan, Plan, port_ranges

DSCP_NAMES = {46: "ef", 0: "default", 8: "cs1", 10: "af11", 18: "af21", 26: "af31", 34: "af41", 48: "cs6"}
SITE_INTERFACE = "<site-facing interface>"


def _cisco_acl_lines(c: ClassPlan, family: str) -> list[str]:
    """One permit line per protocol x destination x port range x DSCP value (IOS ACLs have no sets)."""
    a = c.app_class
    protos = list(a.protocols) or (["tcp", "udp"] if a.ports else ["ip" if family == "ipv4" else "ipv6"])
    dests = [_cisco_net(d, family) for d in c.destinations(family)] or ["any"]
    dscps = [f" dscp {DSCP_NAMES.get(d, d)}" for d in a.dscp] or [""]
    out = []
    for proto in protos:
        ports = [f" range {lo} {hi}" if hi != lo else f" eq {lo}" for lo, hi in port_ranges(a.ports)]
        for dst in dests:
            for pt in ports if ports and proto in ("tcp", "udp", "sctp") else [""]:
                out += [f" permit {proto} any {dst}{pt}{ds}" for ds in dscps]
    return out


def _cisco_net(prefix: str, family: str) -> str:
    if family == "ipv6":
        return prefix
    addr, _, length = prefix.partition("/")
    n = int(length)
    mask = (0xFFFFFFFF >> n) if n < 32 else 0  # noqa: PLR2004 - IPv4 width
    wild = ".".join(str((mask >> s) & 0xFF) for s in (24, 16, 8, 0))
    return f"{addr} {wild}"


def cisco(p: Plan) -> str:
    lines = [f"! bgpsteer application classes: generated from {p.source or 'the config'} by `bgpsteer core-config`"]
    seq = 10
    pbr: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for c in p.classes:
        lines += [f"vrf definition {c.vrf}", f" rd {c.local_asn}:{c.table}"]
        for family in c.families:
            lines += [f" address-family {family}", " exit-address-family"]
        lines += [
            "!",
            "interface <class session interface>",
            f" vrf forwarding {c.vrf}",
            *[f" {'ip' if ':' not in s.address else 'ipv6'} address {s.address} <mask>" for s in c.sessions],
            "!",
        ]
        if c.matches_everything:
            lines.append(f"! class {c.name}: no match configured, nothing is put into VRF {c.vrf}")
            continue
        for family in c.families:
            if c.app_class.prefixes and not c.destinations(family):
                continue
            acl = f"{c.vrf}-{family[-1]}"
            lines.append(f"ip access-list extended {acl}" if family == "ipv4" else f"ipv6 access-list {acl}")
            lines += _cisco_acl_lines(c, family)
            lines.append("!")
            pbr[family] += [
                f"route-map BGPSTEER-CLASSES-{family[-1]} permit {seq}",
                f" match {'ip' if family == 'ipv4' else 'ipv6'} address {acl}",
                f" set vrf {c.vrf}",
                "!",
            ]
        seq += 10
    for family in ("ipv4", "ipv6"):
        lines += pbr[family]
    lines.append(f"router bgp {p.classes[0].local_asn}" if p.classes else "! no class has a core session")
    for c in p.classes:
        for s in c.sessions:
            for family in s.families:
                nbr = s.local_address or c.bgpsteer_address
                lines += [
                    f" address-family {family} vrf {c.vrf}",
                    f"  neighbor {nbr} remote-as {c.local_asn}",
                    f"  neighbor {nbr} description bgpsteer class {c.name} ({s.name})",
                    f"  neighbor {nbr} activate",
                    f"  neighbor {nbr} additional-paths receive",
                    *(["  maximum-paths ibgp 8  ! steering.multipath"] if p.multipath else []),
                    " exit-address-family",
                ]
    lines.append("!")
    lines.append(f"interface {SITE_INTERFACE}")
    for family in ("ipv4", "ipv6"):
        if pbr[family]:
            lines.append(f" {'ip' if family == 'ipv4' else 'ipv6'} policy route-map BGPSTEER-CLASSES-{family[-1]}")
    lines += [
        f"! class {name}: no core session has `class: {name}`; its traffic uses the global table" for name in p.unserved
    ]
    return "\n".join(lines) + "\n"


def _junos_from(c: ClassPlan, family: str) -> list[str]:
    a = c.app_class
    terms = []
    if a.dscp:
        kw = "dscp" if family == "ipv4" else "traffic-class"
        terms.append(f"{kw} [ {' '.join(DSCP_NAMES.get(d, str(d)) for d in a.dscp)} ];")
    protos = list(a.protocols) or (["tcp", "udp"] if a.ports else [])
    if protos:
        kw = "protocol" if family == "ipv4" else "next-header"
        terms.append(f"{kw} [ {' '.join(protos)} ];")
    if a.ports:
        terms.append(f"destination-port [ {' '.join(a.ports)} ];")
    dst = c.destinations(family)
    if dst:
        terms.append(f"destination-address {{ {' '.join(d + ';' for d in dst)} }}")
    return terms


def juniper(p: Plan) -> str:
    lines = [f"/* bgpsteer application classes: generated from {p.source or 'the config'} by `bgpsteer core-config` */"]
    filters: dict[str, list[str]] = {"ipv4": [], "ipv6": []}
    for c in p.classes:
        if c.matches_everything:
            lines.append(f"/* class {c.name}: no match configured, nothing is put into {c.vrf} */")
            continue
        for family in c.families:
            if c.app_class.prefixes and not c.destinations(family):
                continue
            filters[family] += [
                f"        term {c.name} {{",
                f"            from {{ {' '.join(_junos_from(c, family))} }}",
                f"            then routing-instance {c.vrf};",
                "        }",
            ]
    lines.append("firewall {")
    for family, fam in (("ipv4", "inet"), ("ipv6", "inet6")):
        if filters[family]:
            lines += [f"    family {fam} {{", f"        filter BGPSTEER-CLASSES-{family[-1]} {{"]
            lines += ["    " + x for x in filters[family]]
            lines += ["            term default { then accept; }", "        }", "    }"]
    lines.append("}")
    lines.append("routing-instances {")
    for c in p.classes:
        lines += [
            f"    {c.vrf} {{",
            "        instance-type virtual-router;",
            "        protocols {",
            "            bgp {",
            f"                group bgpsteer-{c.name} {{",
            "                    type internal;",
            *(["                    multipath multiple-as;  /* steering.multipath */"] if p.multipath else []),
        ]
        for s in c.sessions:
            nbr = s.local_address or c.bgpsteer_address
            for family in s.families:
                fam = "inet" if family == "ipv4" else "inet6"
                lines.append(f"                    family {fam} {{ unicast {{ add-path {{ receive; }} }} }}")
            lines.append(f'                    neighbor {nbr} {{ description "bgpsteer class {c.name} ({s.name})"; }}')
        lines += ["                }", "            }", "        }", "    }"]
    lines.append("}")
    lines.append("interfaces {")
    lines.append(f"    {SITE_INTERFACE} {{ unit 0 {{")
    for family, fam in (("ipv4", "inet"), ("ipv6", "inet6")):
        if filters[family]:
            lines.append(f"        family {fam} {{ filter {{ input BGPSTEER-CLASSES-{family[-1]}; }} }}")
    lines += ["    } }", "}"]
    lines += [
        f"/* class {name}: no core session has `class: {name}`; its traffic uses inet.0 */" for name in p.unserved
    ]
    return "\n".join(lines) + "\n"
