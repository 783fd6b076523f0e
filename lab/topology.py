"""The two-egress lab: ExaBGP+bgpsteer, an FRR core, two BIRD cloud gateways.

    aws (BIRD, AS64512) --10.250.1.0/30--+
                                          rs (ExaBGP + bgpsteer, AS65000) --10.250.0.0/30-- core (FRR, AS65000)
    gcp (BIRD, AS16550) --10.250.2.0/30--+

Egress next-hops 10.255.0.1 (fra, via aws) and 10.255.0.2 (ams, via gcp) are
reachable from the core through rs.  All of it lives in namespaces created
here and removed by Lab.close().
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from lab.netlab import Bird, Frr, Lab, wait_for

HERE = Path(__file__).resolve().parent
LAB_CONFIG = HERE / "lab.yaml"

AWS_ROUTES = ["10.10.0.0/16", "10.10.1.0/24", "10.20.0.0/16", "10.30.0.0/16",
              "192.0.2.0/24",  # documentation space: import safety rejects it
              "10.10.9.0/28"]  # too specific: rejected
GCP_ROUTES = ["10.20.0.0/16", "10.20.1.0/24", "10.10.0.0/16", "10.30.0.0/16"]

BIRD = """
router id {rid};
protocol device {{}}
protocol static s4 {{ ipv4; {routes} }}
filter out_attrs {{ bgp_community.add(({asn}, 100)); accept; }}
protocol bgp up4 {{
  local {local} as {asn};
  neighbor {peer} as 65000;
  hold time 30;
  ipv4 {{ import none; export filter out_attrs; }};
}}
"""

FRR = """frr defaults traditional
hostname core
router bgp 65000
 bgp router-id 10.250.0.2
 no bgp default ipv4-unicast
 neighbor 10.250.0.1 remote-as 65000
 neighbor 10.250.0.1 timers 10 30
 address-family ipv4 unicast
  neighbor 10.250.0.1 activate
 exit-address-family
"""


def bird_config(rid: str, asn: int, local: str, peer: str, routes: list[str]) -> str:
    return BIRD.format(rid=rid, asn=asn, local=local, peer=peer, routes=" ".join(f"route {r} blackhole;" for r in routes))


@dataclass
class Topology:
    lab: Lab
    core: Frr
    aws: Bird
    gcp: Bird
    exabgp: subprocess.Popen[bytes]
    config: Path

    def aws_announce(self, routes: list[str]) -> None:
        self.aws.reconfigure(bird_config("10.250.1.2", 64512, "10.250.1.2", "10.250.1.1", routes))

    def agent_log(self) -> str:
        return self.lab.path("exabgp.log").read_text(errors="replace")


def build(lb: Lab, config: Path = LAB_CONFIG, python: str = sys.executable) -> Topology:
    lb.link("rs", "10.250.0.1/30", "core", "10.250.0.2/30")
    lb.link("rs", "10.250.1.1/30", "aws", "10.250.1.2/30")
    lb.link("rs", "10.250.2.1/30", "gcp", "10.250.2.2/30")
    core_ns = lb.ns("core")
    for nh in ("10.255.0.1/32", "10.255.0.2/32"):
        # the egress next-hops are reached through the route server's namespace
        lb_sh = ["ip", "netns", "exec", core_ns, "ip", "route", "add", nh, "via", "10.250.0.1"]
        subprocess.run(lb_sh, check=True)
    core = lb.start_frr("core", FRR)
    aws = lb.start_bird("aws", bird_config("10.250.1.2", 64512, "10.250.1.2", "10.250.1.1", AWS_ROUTES), "aws")
    gcp = lb.start_bird("gcp", bird_config("10.250.2.2", 16550, "10.250.2.2", "10.250.2.1", GCP_ROUTES), "gcp")
    confdir = lb.path("exabgp")
    confdir.mkdir(exist_ok=True)
    command = f"{python} -m bgpsteer run --config {config} --settle 2"
    subprocess.run([python, "-m", "bgpsteer", "exabgp-config", str(config), "-o", str(confdir), "--command", command],
                   check=True, capture_output=True)
    env = dict(line.split("=", 1) for line in (confdir / "exabgp.env").read_text().split())
    env["exabgp_log_destination"] = "stderr"
    exabgp = str(Path(python).parent / "exabgp")
    proc = lb.spawn("rs", [exabgp, str(confdir / "exabgp.conf")], "exabgp.log", env=env)
    topo = Topology(lb, core, aws, gcp, proc, config)
    wait_for("core session with ExaBGP", lambda: lb.alive(proc, "exabgp.log") and core.established("10.250.0.1"), timeout=60)
    wait_for("cloud sessions", lambda: aws.established("up4") and gcp.established("up4"), timeout=60)
    return topo
