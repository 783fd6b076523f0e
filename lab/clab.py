"""The netns runner of containerlab topologies: reads a ``.clab.yml`` and builds the same nodes, links, addresses
and daemon configs in network namespaces, without Docker (this machine has neither Docker nor containerlab).

What a node is comes from its image (FRR's, a BIRD or a GoBGP image) or, for the route server, from the bgpsteer
config bound at /etc/bgpsteer/bgpsteer.yaml; a ``bgpsteer.role`` label says it outright.  Each daemon runs from
Debian's package with the file the topology binds into its container (FRR's frr.conf, BIRD's bird.conf, GoBGP's
gobgpd.toml, bgpsteer's config with its state_dir moved into the lab's folder).  Links are brief veth links with
the interface names of their endpoints and the addresses of their ``ipv4``/``ipv6`` lists; ``exec`` lines are
run in the node's namespace when they are ``ip``, ``sysctl`` or ``nft`` commands, with bound files' container
paths read as their host files (anything else is an error: the runner never runs a container's tools on the
host).

    python -m lab.clab check lab/bgpsteer.clab.yml
    python -m lab.clab deploy lab/bgpsteer.clab.yml --hold 300
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lab.netlab import Bird, Frr, GoBgp, Lab, lab, sh, wait_for
from lab.topology import start_exabgp

BGPSTEER_CONFIG = "/etc/bgpsteer/bgpsteer.yaml"
DAEMON_CONFIG = {"frr": "/etc/frr/frr.conf", "bird": "/etc/bird/bird.conf", "gobgp": "/etc/gobgp/gobgpd.toml"}
ROLES = {"route-server", "core", "cloud-gateway", "egress-router", "host"}
EXEC_ALLOWED = ("ip", "sysctl", "nft")


class ClabError(ValueError):
    """Every problem of a topology file at once."""


@dataclass(frozen=True)
class Endpoint:
    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


@dataclass(frozen=True)
class Link:
    a: Endpoint
    b: Endpoint
    ipv4: tuple[str, str] = ("", "")
    ipv6: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    image: str
    daemon: str  # frr, bird, gobgp, bgpsteer or none
    role: str
    binds: dict[str, Path]  # path in the container -> file on the host
    exec: tuple[str, ...] = ()

    @property
    def config(self) -> Path | None:
        """The daemon's bound config file."""
        target = BGPSTEER_CONFIG if self.daemon == "bgpsteer" else DAEMON_CONFIG.get(self.daemon, "")
        return self.binds.get(target)


@dataclass(frozen=True)
class ClabTopology:
    name: str
    path: Path
    nodes: dict[str, Node]
    links: tuple[Link, ...]

    def by_daemon(self, daemon: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.daemon == daemon]


def _daemon(image: str, binds: dict[str, Path]) -> str:
    if BGPSTEER_CONFIG in binds:
        return "bgpsteer"
    for daemon in ("frr", "bird", "gobgp"):
        if daemon in image.lower():
            return daemon
    return "none"


def _binds(spec: list[Any], base: Path, where: str, errors: list[str]) -> dict[str, Path]:
    out = {}
    for b in spec:
        parts = str(b).split(":")
        if len(parts) < 2:
            errors.append(f"{where}: bind {b!r} is not HOST:CONTAINER[:MODE]")
            continue
        host = (base / parts[0]).resolve()
        if not host.exists():
            errors.append(f"{where}: bound file {parts[0]} does not exist ({host})")
        out[parts[1]] = host
    return out


def _node(name: str, spec: dict[str, Any], base: Path, errors: list[str]) -> Node:
    where = f"topology.nodes.{name}"
    binds = _binds(list(spec.get("binds") or []), base, where, errors)
    image = str(spec.get("image", ""))
    daemon = _daemon(image, binds)
    labels = spec.get("labels") or {}
    default = {"bgpsteer": "route-server", "frr": "core", "bird": "cloud-gateway", "gobgp": "cloud-gateway"}
    role = str(labels.get("bgpsteer.role", default.get(daemon, "host")))
    if role not in ROLES:
        errors.append(f"{where}: role {role!r} (label bgpsteer.role) is not one of {sorted(ROLES)}")
    node = Node(name, str(spec.get("kind", "")), image, daemon, role, binds, tuple(spec.get("exec") or ()))
    if daemon in DAEMON_CONFIG and node.config is None:
        errors.append(f"{where}: a {daemon} node needs its config bound at {DAEMON_CONFIG[daemon]}")
    for line in node.exec:
        words = shlex.split(line)
        if not words or words[0] not in EXEC_ALLOWED:
            errors.append(f"{where}.exec: {line!r}: the netns runner runs only {', '.join(EXEC_ALLOWED)} commands")
    return node


def _pair(value: Any, where: str, errors: list[str]) -> tuple[str, str]:
    items = [str(v) for v in (value or [])]
    if len(items) > 2:
        errors.append(f"{where}: at most one address per endpoint")
    items += [""] * (2 - len(items))
    return items[0], items[1]


def _links(specs: list[Any], nodes: dict[str, Node], errors: list[str]) -> tuple[Link, ...]:
    links, used = [], set()
    for i, spec in enumerate(specs):
        where = f"topology.links[{i}]"
        ends = spec.get("endpoints") if isinstance(spec, dict) else None
        if not isinstance(ends, list) or len(ends) != 2:
            errors.append(f"{where}: only brief veth links (two endpoints NODE:IFACE) are run here")
            continue
        parsed = []
        for e in ends:
            node, _, iface = str(e).partition(":")
            if node not in nodes:
                errors.append(f"{where}: endpoint {e}: no node {node!r}")
            if not iface:
                errors.append(f"{where}: endpoint {e}: no interface")
            if (node, iface) in used:
                errors.append(f"{where}: endpoint {e} is used by another link")
            used.add((node, iface))
            parsed.append(Endpoint(node, iface))
        links.append(
            Link(
                parsed[0],
                parsed[1],
                _pair(spec.get("ipv4"), f"{where}.ipv4", errors),
                _pair(spec.get("ipv6"), f"{where}.ipv6", errors),
            )
        )
    return tuple(links)


def load(path: Path) -> ClabTopology:
    """A topology file, checked: every endpoint a node's interface used once, every bound file present, every
    node something this runner can play; a ClabError lists every problem."""
    doc = yaml.safe_load(path.read_text())
    errors: list[str] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("topology"), dict):
        raise ClabError(f"{path}: not a containerlab topology (no topology: mapping)")
    nodes = {
        str(name): _node(str(name), spec or {}, path.parent, errors)
        for name, spec in (doc["topology"].get("nodes") or {}).items()
    }
    links = _links(list(doc["topology"].get("links") or []), nodes, errors)
    if errors:
        raise ClabError(f"{path}:\n  " + "\n  ".join(errors))
    return ClabTopology(str(doc.get("name", path.stem)), path, nodes, links)


# -- deploying --------------------------------------------------------------------------------------------------


@dataclass
class Deployed:
    lab: Lab
    topo: ClabTopology
    frr: dict[str, Frr] = field(default_factory=dict)
    bird: dict[str, Bird] = field(default_factory=dict)
    gobgp: dict[str, GoBgp] = field(default_factory=dict)
    exabgp: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    configs: dict[str, Path] = field(default_factory=dict)  # route server -> its bgpsteer config (the lab's copy)
    python: str = sys.executable

    @property
    def core_name(self) -> str:
        return next(n.name for n in self.topo.nodes.values() if n.role == "core")

    @property
    def core(self) -> Frr:
        """The core when FRR plays it (a BIRD core: self.bird[self.core_name])."""
        return self.frr[self.core_name]

    @property
    def route_server(self) -> str:
        return self.topo.by_daemon("bgpsteer")[0].name

    def socket(self, rs: str | None = None) -> str:
        from bgpsteer.config.loader import load as load_config

        return load_config(self.configs[rs or self.route_server]).agent.socket_path

    def cli(self, *args: str, rs: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [self.python, "-m", "bgpsteer", *args, "--socket", self.socket(rs)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def start(self, rs: str) -> None:
        self.exabgp[rs], _, _ = start_exabgp(self.lab, self.configs[rs], self.python, ns=rs)

    def log(self, rs: str) -> str:
        return "exabgp.log" if rs == "rs" else f"exabgp-{rs}.log"


def frr_established(frr: Frr) -> bool:
    """Every neighbour FRR has is Established."""
    peers = [p for fam in frr.vtysh("show bgp summary json").values() for p in fam.get("peers", {}).values()]
    return bool(peers) and all(p.get("state") == "Established" for p in peers)


def bird_established(bird: Bird) -> bool:
    names = re.findall(r"(?m)^protocol bgp (\S+)", bird.conf.read_text())
    return bool(names) and all(bird.established(n) for n in names)


def deploy(lb: Lab, topo: ClabTopology, python: str = sys.executable, timeout: float = 90) -> Deployed:
    """Build the topology in ``lb`` and wait until every BGP session is Established."""
    for link in topo.links:
        lb.link(
            link.a.node,
            ",".join(filter(None, (link.ipv4[0], link.ipv6[0]))),
            link.b.node,
            ",".join(filter(None, (link.ipv4[1], link.ipv6[1]))),
            names=(link.a.iface, link.b.iface),
        )
    d = Deployed(lb, topo, python=python)
    for node in topo.nodes.values():
        lb.ns(node.name)
        for line in node.exec:  # a bound file's path in the container is its file on the host here
            sh(*(str(node.binds.get(w, w)) for w in shlex.split(line)), ns=lb.ns(node.name))
        conf = node.config
        if node.daemon == "frr" and conf is not None:
            d.frr[node.name] = lb.start_frr(node.name, conf.read_text())
        elif node.daemon == "bird" and conf is not None:
            d.bird[node.name] = lb.start_bird(node.name, conf.read_text(), node.name)
        elif node.daemon == "gobgp" and conf is not None:
            d.gobgp[node.name] = lb.start_gobgp(node.name, conf.read_text(), node.name)
    for node in topo.by_daemon("bgpsteer"):
        src = node.config
        assert src is not None
        text = re.sub(r"(?m)^(\s*state_dir:).*$", r"\g<1> " + str(lb.path(f"state-{node.name}")), src.read_text())
        d.configs[node.name] = lb.path(f"bgpsteer-{node.name}.yaml")
        d.configs[node.name].write_text(text)
        d.start(node.name)
    wait_for(
        "every BGP session of the topology",
        lambda: (
            all(lb.alive(p, d.log(rs)) for rs, p in d.exabgp.items())
            and all(frr_established(f) for f in d.frr.values())
            and all(bird_established(b) for b in d.bird.values())
        ),
        timeout=timeout,
    )
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.clab", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="check a topology file (structure, bound files, roles)")
    c.add_argument("topology", type=Path)
    d = sub.add_parser("deploy", help="build it in network namespaces, hold it, tear it down")
    d.add_argument("topology", type=Path)
    d.add_argument("--hold", type=float, default=0, help="seconds to keep it up (at most 3600)")
    args = ap.parse_args(argv)
    try:
        topo = load(args.topology)
    except ClabError as exc:
        print(exc, file=sys.stderr)
        return 2
    for n in topo.nodes.values():
        print(f"{n.name:<8} {n.role:<14} {n.daemon:<9} {n.image}")
    for link in topo.links:
        print(f"{link.a!s:<12} {link.ipv4[0] or '-':<18} -- {link.b!s:<12} {link.ipv4[1] or '-'}")
    if args.cmd == "deploy":
        with lab() as lb:
            deployed = deploy(lb, topo)
            print(f"deployed in {lb.workdir}; namespaces {', '.join(lb.namespaces)}")
            print(deployed.cli("status").stdout)
            time.sleep(min(max(args.hold, 0), 3600))
    return 0


if __name__ == "__main__":
    sys.exit(main())
