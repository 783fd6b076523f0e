"""Your own policy in a lab: from a bgpsteer config, a containerlab topology that mirrors it, scenarios for it, a
run on real daemons and a report.  The dry run before production.

    python -m lab.mirror /etc/bgpsteer/bgpsteer.yaml --out /tmp/mirror
    python -m lab.mirror policies/example.yaml --out /tmp/mirror --generate-only   # files only: edit, run later

What the lab holds: a core router (FRR) for the config's first core router without a class; one cloud gateway
(BIRD) per `cloud_peers` entry, at the peer's address and AS, announcing prefixes drawn from the config's prefix
sets (each range's prefix and one more-specific inside it) and three hostile ones (too specific, a special-purpose
prefix, a route covering an egress next-hop); the route server (ExaBGP + bgpsteer) with a lab copy of the config.
The copy changes only what a lab cannot have (each change is printed): probes go to the emulated gateway of their
egress by ICMP from the route server's address on that link (keeping interval, timeout, window and health);
`gateway` becomes `self` (the lab's core reaches the egresses through the route server); IPv6 sessions, class
sessions to the core, the control group and the metrics address are left out or made local.

Scenarios written beside the topology: the initial table (every drawn prefix has a path, the hostile ones none, no
compliance violation), then per egress a silent blackhole (BGP up, probes dropped: nothing may stay on it and
compliance holds) and its restoration (back to the initial table), and a helper restart that must move nothing.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from bgpsteer.config.loader import ConfigError
from bgpsteer.config.loader import load as load_config
from bgpsteer.core.config import Config
from bgpsteer.core.prefix import parse_range
from lab.textedit import replaced
from lab.topology import bird_config

HOSTILE_BOGON = "198.18.0.0/15"  # RFC 2544 benchmarking space: special purpose (RFC 6890)
FRR_CORE = """frr defaults traditional
hostname {name}
router bgp {asn}
 bgp router-id {address}
 no bgp default ipv4-unicast
 no bgp ebgp-requires-policy
 neighbor {rs} remote-as {local_asn}
 neighbor {rs} timers 10 30
{password} address-family ipv4 unicast
  neighbor {rs} activate
 exit-address-family
"""


class MirrorError(ValueError):
    pass


def _node_name(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-")[:12] or "gw"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base[:10]}-{n}"
    taken.add(name)
    return name


def _link_addresses(local: str, remote: str) -> tuple[str, str, list[str]]:
    """Addresses for both ends: the smallest common subnet when it is a /24 or longer, else point-to-point
    addresses (``ip addr add A peer B``: each daemon sees the other as directly connected, as BIRD's eBGP wants),
    given as exec lines for the two nodes with {dev} for the interface."""
    a, b = ipaddress.IPv4Address(local), ipaddress.IPv4Address(remote)
    for plen in range(30, 23, -1):
        net = ipaddress.IPv4Network(f"{a}/{plen}", strict=False)
        if b in net and a not in (net.network_address, net.broadcast_address) and b != net.broadcast_address:
            return f"{a}/{plen}", f"{b}/{plen}", []
    return "", "", [f"ip addr add {a}/32 peer {b}/32 dev {{dev}}", f"ip addr add {b}/32 peer {a}/32 dev {{dev}}"]


def drawn_prefixes(cfg: Config, sets: dict[str, list[str]]) -> list[str]:
    """From every prefix set of the config (IPv4 ranges): each range's prefix and one more-specific inside it
    within the range and the import safety's maximum length."""
    out: list[str] = []
    for entries in sets.values():
        for text in entries:
            r = parse_range(str(text))
            afi, net, plen = r.prefix
            if afi != 4:  # the lab's sessions are IPv4
                continue
            base = ipaddress.IPv4Network((net, plen))
            out.append(str(base))
            longer = min(r.le, plen + 8, cfg.safety.max_length_v4)
            if longer > plen:
                out.append(str(next(base.subnets(new_prefix=longer))))
    return sorted(set(out), key=ipaddress.IPv4Network) or ["10.123.0.0/16", "10.123.1.0/24"]


def hostile(cfg: Config, benign: list[str]) -> list[str]:
    first = ipaddress.IPv4Network(benign[0])
    too_long = max(cfg.safety.max_length_v4, first.prefixlen) + 4
    nh = ipaddress.IPv4Network(f"{cfg.egresses[0].next_hop}/24", strict=False)
    return [str(next(first.subnets(new_prefix=min(too_long, 32)))), HOSTILE_BOGON, str(nh)]


def generate(config_path: Path, out: Path) -> tuple[Path, list[str]]:  # noqa: C901, PLR0915 - one pass
    """Write the mirrored topology, configs and scenarios into ``out``: (topology file, what the copy changed)."""
    cfg = load_config(config_path)
    doc = yaml.safe_load(config_path.read_text())
    changes: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenarios").mkdir(exist_ok=True)
    agent = doc["agent"]
    for key in ("control_group", "control_socket"):
        if agent.pop(key, None) is not None:
            changes.append(f"agent.{key}: left out (the lab's socket lives in its state_dir)")
    if agent.get("metrics"):
        agent["metrics"] = "127.0.0.1:9474"
        changes.append("agent.metrics: 127.0.0.1:9474 inside the route server's namespace")
    nodes: dict[str, Any] = {}
    links: list[dict[str, Any]] = []
    taken = {"rs"}
    rs_exec: list[str] = []
    benign = drawn_prefixes(cfg, (doc.get("sets") or {}).get("prefix") or {})
    bad = hostile(cfg, benign)
    gateway_of: dict[str, tuple[str, str]] = {}  # egress -> (gateway address, route server address)
    peers = []
    for i, (peer, raw) in enumerate(zip(cfg.cloud_peers, doc["cloud_peers"], strict=True)):
        if "ipv4" not in peer.families:
            changes.append(f"cloud_peers.{peer.name}: IPv6 only, left out")
            continue
        if raw.get("families") not in (None, ["ipv4"]):
            raw["families"] = ["ipv4"]
            changes.append(f"cloud_peers.{peer.name}.families: ipv4 only")
        local = peer.local_address or f"100.64.{i}.1"
        raw["local_address"] = local
        name = _node_name(peer.name, taken)
        a, b, routes = _link_addresses(local, peer.address)
        iface = f"eth{len(links) + 1}"
        links.append({"endpoints": [f"rs:{iface}", f"{name}:eth1"], **({"ipv4": [a, b]} if a else {})})
        rs_exec += [routes[0].format(dev=iface)] if routes else []
        conf = bird_config(peer.address, peer.asn, peer.address, local, benign + bad)
        if peer.password:
            conf = replaced(conf, ("  hold time 30;", f'  hold time 30;\n  password "{peer.password}";', 1))
        (out / "clab" / name).mkdir(parents=True, exist_ok=True)
        (out / "clab" / name / "bird.conf").write_text(
            f"# cloud gateway {peer.name} (AS{peer.asn}), by lab/mirror.py\n{conf}"
        )
        nodes[name] = {
            "kind": "linux",
            "image": "pierky/bird:2.0.12",
            "binds": [f"clab/{name}/bird.conf:/etc/bird/bird.conf"],
            "labels": {"bgpsteer.role": "cloud-gateway"},
            **({"exec": [routes[1].format(dev="eth1")]} if routes else {}),
        }
        gateway_of.setdefault(peer.egress, (peer.address, local))
        peers.append(raw)
    doc["cloud_peers"] = peers
    cores = [c for c in cfg.core_routers if c.app_class is None and "ipv4" in c.families]
    if not cores:
        raise MirrorError(f"{config_path}: no IPv4 core router without a class to mirror")
    core = cores[0]
    core_raw = next(r for r in doc["core_routers"] if r["name"] == core.name)
    dropped = [r["name"] for r in doc["core_routers"] if r is not core_raw]
    if dropped:
        changes.append(f"core_routers: only {core.name} (left out: {', '.join(dropped)})")
    core_raw["families"] = ["ipv4"]
    core_local = core.local_address or "100.64.255.1"
    core_raw["local_address"] = core_local
    doc["core_routers"] = [core_raw]
    a, b, routes = _link_addresses(core_local, core.address)
    iface = f"eth{len(links) + 1}"
    links.insert(0, {"endpoints": [f"rs:{iface}", "core:eth1"], **({"ipv4": [a, b]} if a else {})})
    rs_exec += [routes[0].format(dev=iface)] if routes else []
    password = f" neighbor {core_local} password {core.password}\n" if core.password else ""
    (out / "clab" / "core").mkdir(parents=True, exist_ok=True)
    (out / "clab" / "core" / "frr.conf").write_text(
        FRR_CORE.format(
            name=core.name,
            asn=core.asn,
            address=core.address,
            rs=core_local,
            local_asn=cfg.agent.local_asn,
            password=password,
        )
    )
    nodes["core"] = {
        "kind": "linux",
        "image": "quay.io/frrouting/frr:8.4.1",
        "binds": ["clab/core/frr.conf:/etc/frr/frr.conf"],
        "labels": {"bgpsteer.role": "core"},
        **({"exec": [routes[1].format(dev="eth1")]} if routes else {}),
    }
    for raw in doc["egresses"]:
        for key in ("gateway", "gateway6", "next_hop6"):
            if raw.pop(key, None) is not None:
                changes.append(
                    f"egresses.{raw['id']}.{key}: left out (the lab's core reaches egresses via the route server)"
                )
        gw = gateway_of.get(raw["id"])
        if gw is None:
            if raw.pop("probe", None) is not None:
                changes.append(f"egresses.{raw['id']}.probe: left out (no IPv4 cloud peer to probe)")
            continue
        old = raw.get("probe") or {}
        raw["probe"] = {
            "type": "icmp",
            "targets": [gw[0]],
            "source": gw[1],
            **{k: old[k] for k in ("interval", "timeout", "window") if k in old},
        }
        changes.append(f"egresses.{raw['id']}.probe: icmp to its emulated gateway {gw[0]} from {gw[1]}")
    (out / "bgpsteer.yaml").write_text(
        f"# lab copy of {config_path}, by lab/mirror.py\n" + yaml.safe_dump(doc, sort_keys=False)
    )
    nodes = {
        "rs": {
            "kind": "linux",
            "image": "python:3.11-slim-bookworm",
            "binds": [
                f"{Path(__file__).resolve().parents[1]}:/bgpsteer:ro",
                "bgpsteer.yaml:/etc/bgpsteer/bgpsteer.yaml:ro",
            ],
            "cmd": "sh /bgpsteer/lab/clab/rs/start.sh",
            "labels": {"bgpsteer.role": "route-server"},
            **({"exec": rs_exec} if rs_exec else {}),
        },
        **nodes,
    }
    topo = out / "mirror.clab.yml"
    topo.write_text(
        f"# mirrors {config_path} (python -m lab.mirror); deploy with containerlab or python -m lab.clab\n"
        + yaml.safe_dump({"name": "bgpsteer-mirror", "topology": {"nodes": nodes, "links": links}}, sort_keys=False)
    )
    _scenarios(load_config(out / "bgpsteer.yaml"), out, benign, bad)
    return topo, changes


def _scenarios(cfg: Config, out: Path, benign: list[str], bad: list[str]) -> None:
    initial = {
        "name": "initial",
        "within": 90,
        "present": benign,
        "absent": bad,
        "compliance": True,
        "snapshot": "start",
    }
    for e in cfg.egresses:
        if e.probe is None:
            continue
        fail = round(e.probe.interval * (e.health.fall + 2) + 10, 1)
        back = round(e.health.hold_down + e.probe.interval * (e.health.rise + 2) + 30, 1)
        steps = [
            {"expect": initial},
            {"blackhole": {"egress": e.id}},
            {"expect": {"name": f"nothing on {e.id}", "within": fail, "avoid": [e.id], "compliance": True, "hold": 2}},
            {"restore": {"egress": e.id}},
            {"expect": {"name": "back to the initial table", "within": back, "same_as": "start", "compliance": True}},
        ]
        doc = {
            "name": f"blackhole-{e.id}",
            "topology": "../mirror.clab.yml",
            "description": f"egress {e.id} fails silently (BGP up, probes dropped) and returns",
            "steps": steps,
        }
        (out / "scenarios" / f"blackhole-{e.id}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    doc = {
        "name": "helper-restart",
        "topology": "../mirror.clab.yml",
        "description": "the helper is killed and restarted by ExaBGP: nothing moves on the core",
        "steps": [
            {"expect": initial},
            {"restart_helper": {}},
            {"sleep": {"seconds": 5}},
            {"expect": {"name": "nothing moved", "within": 30, "same_as": "start", "max_changes": 0, "hold": 3}},
        ],
    }
    (out / "scenarios" / "helper-restart.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.mirror", description=__doc__.split("\n\n")[0])
    ap.add_argument("config", type=Path, help="your bgpsteer config")
    ap.add_argument("--out", type=Path, required=True, help="where the topology, configs, scenarios and report go")
    ap.add_argument("--generate-only", action="store_true", help="write the files, run nothing")
    args = ap.parse_args(argv)
    try:
        topo, changes = generate(args.config, args.out)
    except (ConfigError, MirrorError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"topology {topo}; the lab copy of the config differs in:")
    print("\n".join(f"  {c}" for c in changes) or "  nothing")
    if args.generate_only:
        print(f"run it: python -m lab.scenario run {args.out}/scenarios/*.yaml --report {args.out}/report")
        return 0
    from lab.scenario import main as run_scenarios

    paths = [str(p) for p in sorted((args.out / "scenarios").glob("*.yaml"))]
    return run_scenarios(["run", *paths, "--report", str(args.out / "report")])


if __name__ == "__main__":
    sys.exit(main())
