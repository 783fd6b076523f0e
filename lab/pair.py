"""A redundant pair of route servers for one hub: two ExaBGP + bgpsteer (rs and rsb), the same policy, each with its
own links to the FRR core and to both cloud gateways (BIRD), each probing the egresses through its own links.

    rs  --10.250.0.0/30--  core  --10.250.10.0/30-- rsb
    rs  --10.250.1.0/30--  aws   --10.250.11.0/30-- rsb      (egress fra's gateway, AS64512)
    rs  --10.250.2.0/30--  gcp   --10.250.12.0/30-- rsb      (egress ams's gateway, AS16550)

rsb's config is lab.yaml with its own addresses (router id, local addresses, probe sources and targets on its
links) and its own state_dir: the policy, the egresses and their next-hops NH_E are the same.  The core has both as
iBGP neighbours; each announces NH_E/32 with itself as next-hop while it sees egress E up, so a path via E stays
usable on the core while either route server sees E up (docs/operations.md: "A redundant pair").
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgpsteer.config.loader import load
from lab.netlab import Bird, Frr, Lab, drop_probes, kill_netns, sh, wait_for
from lab.textedit import replaced
from lab.topology import AWS_ROUTES, FRR, GCP_ROUTES, LAB_CONFIG, NH_ROUTES, bird_config, start_exabgp

SECOND_SESSION = """
protocol bgp up4b {{
  local {local} as {asn};
  neighbor {peer} as 65000;
  hold time 30;
  ipv4 {{ import none; export filter out_attrs; }};
}}
"""
RS_ADDRESS = {"rs": "10.250.0.1", "rsb": "10.250.10.1"}  # as the core sees them


def core_config() -> str:
    """The lab's FRR core with the second route server as another iBGP neighbour."""
    return replaced(
        FRR,
        (
            " neighbor 10.250.0.1 timers 10 30\n",
            " neighbor 10.250.0.1 timers 10 30\n"
            " neighbor 10.250.10.1 remote-as 65000\n"
            " neighbor 10.250.10.1 timers 10 30\n",
        ),
        ("  neighbor 10.250.0.1 activate\n", "  neighbor 10.250.0.1 activate\n  neighbor 10.250.10.1 activate\n"),
    )


def second_config(text: str, state_dir: Path) -> str:
    """rsb's copy of the config: its addresses (10.250.N. -> 10.250.1N. for each of its links), its state_dir."""
    text = re.sub(r"10\.250\.([0-9])\.", lambda m: f"10.250.1{m.group(1)}.", text)
    return re.sub(r"(?m)^(\s*state_dir:).*$", lambda m: f"{m.group(1)} {state_dir}", text)


def gateway(asn: int, links: tuple[tuple[str, str], tuple[str, str]], routes: list[str]) -> str:
    """A cloud gateway with a session to each route server: links ((local, peer) for rs, for rsb)."""
    (local_a, peer_a), (local_b, peer_b) = links
    return bird_config(local_a, asn, local_a, peer_a, routes) + SECOND_SESSION.format(
        local=local_b, asn=asn, peer=peer_b
    )


@dataclass
class Pair:
    lab: Lab
    core: Frr
    aws: Bird
    gcp: Bird
    exabgp: dict[str, subprocess.Popen[bytes]]
    configs: dict[str, Path]
    python: str = sys.executable
    hub: str = ""  # prefixes the node names: several hubs' pairs in one lab (lab/fleet.py)

    def node(self, name: str) -> str:
        return f"{self.hub}{name}"

    def cli(self, rs: str, *args: str) -> subprocess.CompletedProcess[str]:
        sock = load(self.configs[rs]).agent.socket_path
        cmd = [self.python, "-m", "bgpsteer", *args, "--socket", sock]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def sockets(self) -> list[str]:
        return [load(c).agent.socket_path for c in self.configs.values()]

    def start(self, rs: str) -> None:
        self.exabgp[rs], _, _ = start_exabgp(self.lab, self.configs[rs], self.python, ns=self.node(rs))

    def alive(self, rs: str) -> bool:
        node = self.node(rs)
        return self.lab.alive(self.exabgp[rs], "exabgp.log" if node == "rs" else f"exabgp-{node}.log")

    def kill(self, rs: str) -> None:
        """The whole route server dies at once: ExaBGP and its helper, no goodbye (SIGKILL)."""
        kill_netns(self.lab.ns(self.node(rs)))
        self.exabgp[rs].wait(10)

    def block_probes(self, rs: str, cloud: str, on: bool) -> None:
        """Drop what one route server's probes send to a gateway (ICMP echo and UDP echo from its address on that
        link): only that route server sees the egress fail; BGP stays up."""
        link = {"aws": 1, "gcp": 2}[cloud] + (10 if rs == "rsb" else 0)
        table = f"probes_{rs}"
        full = self.lab.ns(self.node(cloud))
        if on:
            drop_probes(full, table, source=f"10.250.{link}.1")
        else:
            sh("nft", f"delete table inet {table}", ns=full, check=False)

    def paths_by_server(self) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
        """route server -> (prefix, next-hop) -> the path's attributes as the core received them; steered prefixes
        only (each route server's NH_E/32 has its own address as next-hop)."""
        out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {rs: {} for rs in RS_ADDRESS}
        by_addr = {a: rs for rs, a in RS_ADDRESS.items()}
        for prefix, paths in self.core.routes().items():
            if prefix in NH_ROUTES:
                continue
            for p in paths:
                rs = by_addr.get(str(p.get("peerId")))
                if rs is None:
                    continue
                nh = p["nexthops"][0]["ip"]
                out[rs][(prefix, nh)] = {"local_pref": p.get("locPrf"), "med": p.get("metric"), "path": p.get("path")}
        return out


def build(
    lb: Lab,
    config: Path = LAB_CONFIG,
    python: str = sys.executable,
    *,
    hub: str = "",
    metrics: dict[str, str] | None = None,
    graceful_restart: bool = False,
) -> Pair:
    """The pair; hub prefixes its node names and files (its addresses are the same in every hub: each hub's
    namespaces are their own network); metrics: route server -> the metrics listen address it gets instead of
    lab.yaml's (a monitoring link's address, lab/fleet.py); graceful_restart: keep lab.yaml's graceful restart
    towards the core, which a pair should not (below): to show what it does."""
    node = f"{hub}{{}}".format
    for rs, n in (("rs", ""), ("rsb", "1")):
        lb.link(node(rs), f"10.250.{n}0.1/30", node("core"), f"10.250.{n}0.2/30")
        lb.link(node(rs), f"10.250.{n}1.1/30", node("aws"), f"10.250.{n}1.2/30")
        lb.link(node(rs), f"10.250.{n}2.1/30", node("gcp"), f"10.250.{n}2.2/30")
    core = lb.start_frr(node("core"), core_config())
    aws = lb.start_bird(
        node("aws"),
        gateway(64512, (("10.250.1.2", "10.250.1.1"), ("10.250.11.2", "10.250.11.1")), AWS_ROUTES),
        node("aws"),
    )
    gcp = lb.start_bird(
        node("gcp"),
        gateway(16550, (("10.250.2.2", "10.250.2.1"), ("10.250.12.2", "10.250.12.1")), GCP_ROUTES),
        node("gcp"),
    )
    text = re.sub(r"(?m)^(\s*state_dir:).*$", lambda m: f"{m.group(1)} {lb.path(node('state'))}", config.read_text())
    # no graceful restart towards the core in a pair whose route servers forward (gateway "self"): the core would
    # keep a dead one's paths as stale for the restart time, and its NH_E/32 (lower router id) would stay best,
    # pointing at it; the other route server's paths are the redundancy here (docs/operations.md: "A redundant pair")
    if not graceful_restart:
        text = replaced(text, ("agent:\n", "agent:\n  graceful_restart: 0\n", 1))
    configs = {"rs": lb.path(node("bgpsteer.yaml")), "rsb": lb.path(node("bgpsteer-rsb.yaml"))}
    texts = {"rs": text, "rsb": second_config(text, lb.path(node("state-rsb")))}
    for rs, listen in (metrics or {}).items():
        texts[rs] = re.sub(r"(?m)^(\s*metrics:).*$", r"\g<1> " + listen, texts[rs])
    for rs, path in configs.items():
        path.write_text(texts[rs])
    pair = Pair(lb, core, aws, gcp, {}, configs, python, hub)
    for rs in configs:
        pair.start(rs)
    wait_for(
        f"the core's sessions with both route servers{' of ' + hub if hub else ''}",
        lambda: (
            all(pair.alive(rs) for rs in configs) and core.established("10.250.0.1") and core.established("10.250.10.1")
        ),
        timeout=60,
    )
    wait_for(
        "cloud sessions with both route servers",
        lambda: all(b.established(p) for b in (aws, gcp) for p in ("up4", "up4b")),
        timeout=60,
    )
    return pair
