"""The return-path lab: one cloud reached through two egresses, as an AWS Transit Gateway with a VPN attachment
at two hubs is.

    site host --- core (FRR) --- rs (ExaBGP + bgpsteer) ==fra== tgw (FRR, AS 64512) --- vpc host
                                                        ==ams==

An Azure VPN gateway (``vnet``: FRR, AS 65515, APIPA inside addresses, Azure's 60 s / 180 s timers) is reached
through both egresses too, and steered by prepending.  So is a Google Cloud Router (``cr``: FRR, AS 16550, 20 s /
60 s timers), which picks by MED alone (``bgp bestpath as-path ignore``; equal MEDs would give ECMP,
``maximum-paths 8``) and keeps a restarting peer's routes (graceful restart helper), as Google documents.

The route server has two sessions with the TGW, one over each egress's tunnel, on tunnel inside addresses
(169.254.10.0/30 via fra, 169.254.11.0/30 via ams: outside the /30s AWS reserves) with AWS's hold time.  The TGW
announces the cloud's prefixes on both; bgpsteer announces the site's prefixes on both, and the TGW's own RIB
shows which session it answers through.  FRR's best-path order for one prefix from one neighbouring AS (the
shortest AS path, then the lowest MED) is AWS's documented order; the test checks that it holds here.  ECMP is
off (``maximum-paths 1``), as on a virtual private gateway or a Transit Gateway without VPN ECMP: with it on,
equal MEDs would spread the answers over both tunnels by flow hash.

Probes are ICMP echoes to the TGW's inside address over each tunnel: dropping them on one tunnel (nftables in the
TGW's namespace) fails that egress while its BGP session stays up, which is the blackholed tunnel the return path
must survive.

Packets: a UDP stream from the vpc host (172.31.0.10) to the site host (10.100.200.1) is the cloud's answers.
The TGW forwards it by the route its FRR installed for the site (the tunnel it picked); the route server forwards
what arrives over either tunnel to the core, which delivers it to the site.  nftables counters in the route
server count the datagrams that arrive over each tunnel.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgpsteer.config.loader import load
from bgpsteer.core.prefix import covers, parse_prefix
from lab.netlab import Frr, Lab, drop_probes, longest_route, nft_counters, sh, wait_for
from lab.streams import udp_stream
from lab.textedit import yaml_edited
from lab.topology import FRR, helper_pid, start_exabgp
from lab.wgtunnel import WgTunnel, wireguard

SITE = ["10.100.0.0/16", "10.101.0.0/16"]
CLOUD = ["172.31.0.0/16", "172.32.0.0/16"]
INSIDE = {"fra": ("169.254.10.1", "169.254.10.2"), "ams": ("169.254.11.1", "169.254.11.2")}  # (ours, the TGW's)
# an Azure VPN gateway through both egresses too, on APIPA addresses, AS 65515, Azure's fixed timers (60 s / 180 s)
AZURE_INSIDE = {"fra": ("169.254.21.1", "169.254.21.2"), "ams": ("169.254.22.1", "169.254.22.2")}
VNET = ["10.60.0.0/16"]
# a Google Cloud Router through both egresses: AS 16550, link-local inside addresses, 20 s / 60 s timers
GCP_INSIDE = {"fra": ("169.254.31.1", "169.254.31.2"), "ams": ("169.254.32.1", "169.254.32.2")}
GCP_VPC = ["10.70.0.0/16"]

CONFIG = """
agent:
  local_asn: 65000
  router_id: 10.250.0.1
  hold_time: 30
  log_level: info
  state_dir: {state}
  ready_timeout: 10  # FRR as a cloud answers a restarted helper's route refresh with nothing: do not wait 60 s
egresses:
  - id: fra
    region: eu-central
    jurisdiction: EU
    next_hop: 10.255.0.1
    probe: {{type: icmp, targets: [169.254.10.2], source: 169.254.10.1, interval: 0.1, timeout: 0.08}}
    health: {{rise: 3, fall: 3, hold_down: 3, dampening: false}}
  - id: ams
    region: eu-west
    jurisdiction: EU
    next_hop: 10.255.0.2
    probe: {{type: icmp, targets: [169.254.11.2], source: 169.254.11.1, interval: 0.1, timeout: 0.08}}
    health: {{rise: 3, fall: 3, hold_down: 3, dampening: false}}
cloud_peers:
  - {{name: tgw-fra, address: 169.254.10.2, local_address: 169.254.10.1, asn: 64512, egress: fra, provider: aws,
     region: eu-central-1, cloud: tgw, hold_time: 30}}
  - {{name: tgw-ams, address: 169.254.11.2, local_address: 169.254.11.1, asn: 64512, egress: ams, provider: aws,
     region: eu-central-1, cloud: tgw, hold_time: 30}}
  - {{name: vnet-fra, address: 169.254.21.2, local_address: 169.254.21.1, asn: 65515, egress: fra, provider: azure,
     region: westeurope, cloud: vnet, hold_time: 180}}
  - {{name: vnet-ams, address: 169.254.22.2, local_address: 169.254.22.1, asn: 65515, egress: ams, provider: azure,
     region: westeurope, cloud: vnet, hold_time: 180}}
  - {{name: cr-fra, address: 169.254.31.2, local_address: 169.254.31.1, asn: 16550, egress: fra, provider: gcp,
     region: europe-west3, cloud: cr, hold_time: 60}}
  - {{name: cr-ams, address: 169.254.32.2, local_address: 169.254.32.1, asn: 16550, egress: ams, provider: gcp,
     region: europe-west3, cloud: cr, hold_time: 60}}
core_routers:
  - {{name: core1, address: 10.250.0.2, asn: 65000}}
steering: {{max_down: 1}}
site: {{prefixes: [{site}]{extra}}}
policy:
  import:
    default: accept
    statements:
      - {{name: fra-first, match: {{egress: fra}}, set: {{local_pref: 200}}, then: accept}}
  export: {{default: accept}}
"""

TGW = """frr defaults traditional
hostname tgw
router bgp 64512
 bgp router-id 169.254.10.2
 no bgp ebgp-requires-policy
 neighbor 169.254.10.1 remote-as 65000
 neighbor 169.254.10.1 timers 10 30
 neighbor 169.254.11.1 remote-as 65000
 neighbor 169.254.11.1 timers 10 30
 address-family ipv4 unicast
  maximum-paths 1
{networks} exit-address-family
"""


SITE_HOST, VPC_HOST = "10.100.200.1", "172.31.0.10"
PORT = 5000


AZURE = """frr defaults traditional
hostname vnet
router bgp 65515
 bgp router-id 169.254.21.2
 no bgp ebgp-requires-policy
 neighbor 169.254.21.1 remote-as 65000
 neighbor 169.254.21.1 timers 60 180
 neighbor 169.254.22.1 remote-as 65000
 neighbor 169.254.22.1 timers 60 180
 address-family ipv4 unicast
  maximum-paths 1
  network 10.60.0.0/16
 exit-address-family
"""


GCP = """frr defaults traditional
hostname cr
router bgp 16550
 bgp router-id 169.254.31.2
 no bgp ebgp-requires-policy
 bgp graceful-restart
 bgp bestpath as-path ignore
 neighbor 169.254.31.1 remote-as 65000
 neighbor 169.254.31.1 timers 20 60
 neighbor 169.254.32.1 remote-as 65000
 neighbor 169.254.32.1 timers 20 60
 address-family ipv4 unicast
  maximum-paths 8
  network 10.70.0.0/16
 exit-address-family
"""


CLAB_DIR = Path(__file__).resolve().parent / "clab" / "returnpath"


def clab_files() -> dict[str, str]:
    """The files lab/returnpath.clab.yml binds, as this lab renders them (tests/unit/test_clab.py keeps them equal;
    write them again with ``python -c 'from lab.returnlab import write_clab; write_clab()'``)."""
    networks = "".join(f"  network {p}\n" for p in CLOUD)
    return {
        "bgpsteer.yaml": CONFIG.format(state="/var/lib/bgpsteer", site=", ".join(SITE), extra=""),
        "tgw.conf": TGW.format(networks=networks),
        "vnet.conf": AZURE,
        "cr.conf": GCP,
    }


def write_clab() -> None:
    CLAB_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in clab_files().items():
        (CLAB_DIR / name).write_text(text)


def best_of(paths: list[dict[str, Any]]) -> list[str]:
    """The peers (our session's address) of an FRR route's valid best path(s)."""
    return sorted(p["peerId"] for p in paths if p.get("bestpath") and p.get("valid"))


@dataclass
class ReturnLab:
    lab: Lab
    core: Frr
    tgw: Frr
    vnet: Frr
    cr: Frr  # the Google Cloud Router
    config: Path
    python: str
    tunnels: dict[str, tuple[str, str]]  # egress -> (interface in rs, interface in tgw)
    exabgp: subprocess.Popen[bytes]
    wg: dict[str, WgTunnel]  # egress -> its WireGuard tunnel (empty: plain veths)

    def arrived(self) -> dict[str, int]:
        """Datagrams of the vpc's stream that reached the route server over each egress's tunnel."""
        return nft_counters(self.lab.ns("rs"), "returns")

    def stream(self, seconds: float, rate: float = 1000.0) -> Callable[[], dict[str, Any]]:
        """The vpc host sends to the site host for ``seconds`` (bounded: ``rate`` datagrams/s); returns once it
        flows; call the result for what the site received (udpstream's summary)."""
        return udp_stream(
            self.lab,
            self.python,
            sender=("vpc", VPC_HOST),
            receiver=("site", SITE_HOST),
            port=PORT,
            rate=rate,
            seconds=seconds,
            name="returns",
        )

    def tgw_best(self, prefix: str) -> list[str]:
        """The TGW's valid best path(s) for a prefix: our session's address (the egress's tunnel) it answers
        through; empty when it has no route for it."""
        return best_of(self.tgw.routes().get(prefix, []))

    def tgw_paths(self, prefix: str, frr: Frr | None = None) -> dict[str, dict[str, int]]:
        """Per session (our address), the MED and AS path length of what the TGW (or ``frr``: the Azure gateway)
        holds for a prefix."""
        return {
            p["peerId"]: {"med": int(p.get("metric", 0)), "as_path": len(str(p.get("path", "")).split())}
            for p in (frr or self.tgw).routes().get(prefix, [])
        }

    def vnet_best(self, prefix: str) -> list[str]:
        """The Azure gateway's valid best path(s) for a prefix (our session's address)."""
        return best_of(self.vnet.routes().get(prefix, []))

    def site_at_tgw(self) -> dict[str, dict[str, int]]:
        """Every site route (and half) the TGW holds: prefix -> our session's address -> MED."""
        held: dict[str, dict[str, int]] = {}
        for prefix, paths in self.tgw.routes().items():
            if any(covers(parse_prefix(s), parse_prefix(prefix)) for s in SITE):
                held[prefix] = {p["peerId"]: int(p.get("metric", 0)) for p in paths}
        return held

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``bgpsteer ARGS`` against this lab's agent (its control socket)."""
        socket = load(self.config).agent.socket_path
        return subprocess.run(
            [self.python, "-m", "bgpsteer", *args, "--socket", socket],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def kill_exabgp(self) -> None:
        """ExaBGP dies at once (SIGKILL: no NOTIFICATION, so a graceful-restart helper keeps our routes)."""
        self.exabgp.kill()
        self.exabgp.wait(timeout=10)

    def start_exabgp(self) -> None:
        self.exabgp, _, _ = start_exabgp(self.lab, self.config, self.python)

    def helper_pid(self) -> int:
        """The bgpsteer process ExaBGP runs in this lab's route server."""
        return helper_pid(self.lab)

    def answers_via(self, address: str) -> list[str]:
        """The session(s) the TGW sends a packet for ``address`` through: the best path of its longest matching
        route (what its FIB does), as our address on that tunnel; empty without a route."""
        routes = self.tgw.routes()
        longest = longest_route(routes, address)
        return best_of(routes[longest]) if longest is not None else []

    def blackhole(self, egress: str, on: bool, everything: bool = False) -> None:
        """At the TGW, drop what arrives over one tunnel from us: our probes only (the egress fails, its BGP
        session stays up and carries updates), or ``everything`` (BGP too: the session still looks up until the
        TGW's hold timer expires, and nothing sent over it arrives meanwhile)."""
        ours, _ = INSIDE[egress]
        table = f"blackhole_{egress}"
        ns = self.lab.ns("tgw")
        if not on:
            sh("nft", f"delete table inet {table}", ns=ns)
        elif everything:  # and the data the TGW forwards into the tunnel: nothing crosses it either way
            sh("nft", f"add table inet {table}", ns=ns)
            sh("nft", f"add chain inet {table} input {{ type filter hook input priority 0 ; }}", ns=ns)
            sh("nft", f"add rule inet {table} input ip saddr {ours} drop", ns=ns)
            sh("nft", f"add chain inet {table} forward {{ type filter hook forward priority 0 ; }}", ns=ns)
            sh("nft", f"add rule inet {table} forward oifname {self.tunnels[egress][1]} drop", ns=ns)
        else:
            drop_probes(ns, table, source=ours)


def with_tunnels(d: dict[str, Any], kind: str, wg: dict[str, WgTunnel]) -> None:
    """Each egress's config names its tunnel (the route server's end) as a health input."""
    for e in d["egresses"]:
        if e["id"] in wg:
            t = wg[e["id"]]
            e["tunnel"] = {"type": kind, "device": t.dev_a}
            if kind == "wireguard":
                e["tunnel"].update(peer=t.key_b, interval=0.05)


LEARNED = "10.102.0.0/16"  # a site network the core announces when site.learn is on (learn=True)


def learning(d: dict[str, Any]) -> None:
    """The config edit for ``learn=True``: site prefixes also learned from core1, inside 10.102.0.0/15."""
    d.setdefault("sets", {}).setdefault("prefix", {})["site-nets"] = ["10.102.0.0/15 le 24"]
    d["site"]["learn"] = {"prefix": "site-nets", "from": ["core1"], "hold": 30}


def build(
    lb: Lab, python: str = sys.executable, split: bool = True, tunnel: str | None = None, learn: bool = False
) -> ReturnLab:
    """The lab; ``split=False``: the site without halves (the return path then moves only when the failed
    egress's withdrawal arrives).  ``tunnel``: the TGW's two egresses run through real WireGuard tunnels
    (lab/wgtunnel.py, over veth underlays 192.168.10.0/30 and 192.168.11.0/30), and each egress's config names its
    tunnel as a health input of this type (``interface`` or ``wireguard``); None: plain veths.  ``learn``: the
    agent also learns site prefixes from the core (``learning``), which then holds a route for ``LEARNED``."""
    lb.link("rs", "10.250.0.1/30", "core", "10.250.0.2/30")
    wg: dict[str, WgTunnel] = {}
    if tunnel is None:
        tunnels = {e: lb.link("rs", f"{ours}/30", "tgw", f"{theirs}/30") for e, (ours, theirs) in INSIDE.items()}
    else:
        for n, (egress, (ours, theirs)) in enumerate(INSIDE.items()):
            under = (f"192.168.{10 + n}.1", f"192.168.{10 + n}.2")
            wg[egress] = wireguard(lb, egress[:2], "rs", f"{ours}/30", "tgw", f"{theirs}/30", under, 51820 + n)
        tunnels = {e: (t.dev_a, t.dev_b) for e, t in wg.items()}
    lb.link("core", "10.100.200.254/24", "site", f"{SITE_HOST}/24")
    lb.link("tgw", "172.31.0.1/24", "vpc", f"{VPC_HOST}/24")
    sh("ip", "route", "add", "default", "via", "10.100.200.254", ns=lb.ns("site"))
    sh("ip", "route", "add", "default", "via", "172.31.0.1", ns=lb.ns("vpc"))
    for node in ("rs", "core", "tgw"):
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=lb.ns(node))
    for prefix in SITE:  # the site lies behind the core
        sh("ip", "route", "add", prefix, "via", "10.250.0.2", ns=lb.ns("rs"))
    rs = lb.ns("rs")
    sh("nft", "add table inet returns", ns=rs)
    sh("nft", "add chain inet returns forward { type filter hook forward priority 0 ; }", ns=rs)
    for egress, (ifname, _) in tunnels.items():
        sh("nft", f"add counter inet returns {egress}", ns=rs)
        sh("nft", f"add rule inet returns forward iifname {ifname} ip daddr {SITE_HOST} counter name {egress}", ns=rs)
    for ours, theirs in AZURE_INSIDE.values():
        lb.link("rs", f"{ours}/30", "vnet", f"{theirs}/30")
    sh("ip", "route", "add", "blackhole", VNET[0], ns=lb.ns("vnet"))
    vnet = lb.start_frr("vnet", AZURE)
    for ours, theirs in GCP_INSIDE.values():
        lb.link("rs", f"{ours}/30", "cr", f"{theirs}/30")
    sh("ip", "route", "add", "blackhole", GCP_VPC[0], ns=lb.ns("cr"))
    cr = lb.start_frr("cr", GCP)
    core = lb.start_frr("core", FRR)
    networks = "".join(f"  network {p}\n" for p in CLOUD)
    for p in CLOUD:  # the VPC CIDRs exist at the TGW: blackhole routes make them announceable
        sh("ip", "route", "add", "blackhole", p, ns=lb.ns("tgw"))
    tgw = lb.start_frr("tgw", TGW.format(networks=networks))
    config = lb.path("return.yaml")
    extra = "" if split else ", split: false"
    text = CONFIG.format(state=lb.path("state"), site=", ".join(SITE), extra=extra)
    if tunnel is not None:
        text = yaml_edited(text, lambda d: with_tunnels(d, tunnel, wg))
    if learn:
        text = yaml_edited(text, learning)
        sh("ip", "route", "add", "blackhole", LEARNED, ns=lb.ns("core"))  # a network statement needs a route
    config.write_text(text)
    proc, _, _ = start_exabgp(lb, config, python)
    wait_for("core session", lambda: lb.alive(proc, "exabgp.log") and core.established("10.250.0.1"), timeout=60)
    wait_for(
        "both TGW sessions", lambda: tgw.established("169.254.10.1") and tgw.established("169.254.11.1"), timeout=60
    )
    wait_for(
        "both Azure sessions", lambda: vnet.established("169.254.21.1") and vnet.established("169.254.22.1"), timeout=60
    )
    wait_for("both GCP sessions", lambda: cr.established("169.254.31.1") and cr.established("169.254.32.1"), 60)
    return ReturnLab(lb, core, tgw, vnet, cr, config, python, tunnels, proc, wg)
