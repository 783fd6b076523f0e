"""The two-egress lab: ExaBGP+bgpsteer, an FRR core, two BIRD cloud gateways.

    aws (BIRD, AS64512) --10.250.1.0/30--+
                                          rs (ExaBGP + bgpsteer, AS65000) --10.250.0.0/30-- core (FRR, AS65000)
    gcp (BIRD, AS16550) --10.250.2.0/30--+

Egress next-hops 10.255.0.1 (fra, via aws) and 10.255.0.2 (ams, via gcp) are
resolved on the core only through the host routes bgpsteer announces for the
egresses in service (next-hop indirection): no other route may cover them.
All of it lives in namespaces created here and removed by Lab.close().
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from bgpsteer.config.loader import load
from bgpsteer.core.model import AgentSettings
from lab.netlab import Bird, Frr, GoBgp, Lab, LabError, drop_probes, sh, wait_for
from lab.streams import udp_stream
from lab.textedit import replaced

HERE = Path(__file__).resolve().parent
LAB_CONFIG = HERE / "lab.yaml"

AWS_ROUTES = [
    "10.10.0.0/16",
    "10.10.1.0/24",
    "10.20.0.0/16",
    "10.30.0.0/16",
    "192.0.2.0/24",  # documentation space: import safety rejects it
    "10.10.9.0/28",
]  # too specific: rejected
STREAM_DEST = "10.10.0.1"  # in AWS's 10.10.0.0/16: the data-plane stream's receiver (Topology.data_plane)
NH_ROUTES = {
    "10.255.0.1/32",
    "10.255.0.2/32",
    "fd00:255::1/128",
    "fd00:255::2/128",
}  # announced by bgpsteer for the egresses in service
AWS_ROUTES6 = ["fd10:10::/48", "fd10:30::/48", "2001:db8:1::/48"]  # the documentation prefix is rejected
GCP_ROUTES6 = ["fd10:20::/48", "fd10:30::/48"]
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
  connect retry time 5;
  error wait time 5, 30;
  ipv4 {{ import none; export filter out_attrs; }};
}}
"""

FRR = (HERE / "clab" / "core" / "frr.conf").read_text()  # the core: the containerlab file binds the same file


# The core's realtime VRF.  This machine's kernel has no VRF devices, so a second FRR
# instance in its own namespace plays the realtime VRF of the core (same AS, its own
# session with bgpsteer, its own RIB): the same BGP behaviour, one table per class.
FRR_REALTIME = replaced(
    FRR, ("hostname core", "hostname core-realtime"), ("10.250.0.2", "10.250.8.2"), ("10.250.0.1", "10.250.8.1")
)

CLASSES = """
# Application classes (lab/topology.py adds this to lab.yaml for build(classes=True)).
# Realtime traffic is put into VRF realtime on the core (by DSCP/protocol/ports,
# a PBR rule there); that VRF has its own session with bgpsteer, which announces
# an egress's next-hop route in it only while the egress meets the realtime SLA.
classes:
  - name: realtime
    sla: {latency_ms: 40, loss_pct: 2, jitter_ms: 15}
    objective: performance
    rise: 5
    fall: 5
    hold_down: 5
    match: {dscp: [46], protocol: udp, ports: ["16384-32767"]}
  - name: bulk
    sla: {latency_ms: 300, loss_pct: 10}
    objective: cost
"""


GOBGP = """[global.config]
  as = 8075
  router-id = "10.250.3.2"
  local-address-list = ["10.250.3.2"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.250.3.1"
    peer-as = 65000
  [neighbors.timers.config]
    hold-time = 30
"""
AZURE = (
    "  - {name: azure-er-fra, address: 10.250.3.2, local_address: 10.250.3.1, asn: 8075, egress: fra, "
    "provider: azure, region: germanywestcentral}\n"
)

BIRD6 = """
protocol static s6 {{ ipv6; {routes} }}
protocol bgp up6 {{
  local {local} as {asn};
  neighbor {peer} as 65000;
  hold time 30;
  ipv6 {{ import none; export filter out_attrs; }};
}}
"""

FRR6 = """router bgp 65000
 neighbor fd00:250::1 remote-as 65000
 neighbor fd00:250::1 timers 10 30
 address-family ipv6 unicast
  neighbor fd00:250::1 activate
 exit-address-family
"""


def ipv6_config(text: str) -> str:
    """lab.yaml plus IPv6: egress next_hop6, a v6 session per cloud gateway and to the core."""
    for n in ("1", "2"):
        text = replaced(
            text, (f"    next_hop: 10.255.0.{n}\n", f"    next_hop: 10.255.0.{n}\n    next_hop6: fd00:255::{n}\n")
        )
    text = replaced(
        text,
        (
            "core_routers:\n",
            "  - {name: aws-tgw-fra-v6, address: fd00:250:1::2, local_address: fd00:250:1::1, asn: 64512, egress: fra, "
            "provider: aws, region: eu-central-1, families: [ipv6]}\n"
            "  - {name: gcp-cr-ams-v6, address: fd00:250:2::2, local_address: fd00:250:2::1, asn: 16550, egress: ams, "
            "provider: gcp, region: europe-west4, families: [ipv6]}\n"
            "core_routers:\n"
            "  - {name: core1-v6, address: fd00:250::2, local_address: fd00:250::1, asn: 65000, families: [ipv6]}\n",
        ),
    )
    return text


def best_paths(frr: Frr, family: str = "ipv4") -> dict[str, str | None]:
    """prefix -> next-hop of the valid best path in that FRR's RIB (None: no usable path), steered prefixes only."""
    out: dict[str, str | None] = {}
    for prefix, paths in frr.routes(family).items():
        if prefix in NH_ROUTES:
            continue
        chosen = [p["nexthops"][0]["ip"] for p in paths if p.get("bestpath") and p.get("valid")]
        out[prefix] = chosen[0] if chosen else None
    return out


def classes_config(text: str) -> str:
    """lab.yaml with UDP probes to the reflectors, the two classes and the realtime core session."""
    # UDP echo to the reflectors every 200 ms: a timeout of 190 ms leaves room for a loaded test machine
    text = replaced(
        text,
        ("probe: {type: icmp,", "probe: {type: udp, port: 7, window: 500,"),
        ("interval: 0.1, timeout: 0.08}", "interval: 0.2, timeout: 0.19}"),
    )
    text = replaced(
        text,
        (
            "core_routers:\n",
            "core_routers:\n  - {name: core1-realtime, address: 10.250.8.2, local_address: 10.250.8.1, "
            "asn: 65000, class: realtime}\n",
        ),
    )
    return text + CLASSES


def bird_config(
    rid: str, asn: int, local: str, peer: str, routes: list[str], v6: tuple[str, str, list[str]] | None = None
) -> str:
    """A cloud gateway; v6: (local, peer, routes) adds an IPv6 session."""
    text = BIRD.format(
        rid=rid, asn=asn, local=local, peer=peer, routes=" ".join(f"route {r} blackhole;" for r in routes)
    )
    if v6:
        text += BIRD6.format(asn=asn, local=v6[0], peer=v6[1], routes=" ".join(f"route {r} blackhole;" for r in v6[2]))
    return text


@dataclass
class Topology:
    lab: Lab
    core: Frr
    aws: Bird
    gcp: Bird
    exabgp: subprocess.Popen[bytes]
    config: Path
    exabgp_args: list[str] = field(default_factory=list)
    exabgp_env: dict[str, str] = field(default_factory=dict)
    realtime: Frr | None = None  # the core's realtime VRF (build(classes=True))
    azure: GoBgp | None = None  # a GoBGP cloud gateway behind egress fra (build(azure=True))

    @property
    def realtime_core(self) -> Frr:
        """The core's realtime VRF (built with classes=True)."""
        if self.realtime is None:
            raise LabError("this lab was built without classes: no realtime core")
        return self.realtime

    def aws_announce(self, routes: list[str]) -> None:
        self.aws.reconfigure(bird_config("10.250.1.2", 64512, "10.250.1.2", "10.250.1.1", routes))

    def gcp_announce(self, routes: list[str]) -> None:
        self.gcp.reconfigure(bird_config("10.250.2.2", 16550, "10.250.2.2", "10.250.2.1", routes))

    def restart_exabgp(self, sig: int = signal.SIGTERM, meanwhile: Callable[[], None] | None = None) -> None:
        """Stop ExaBGP (and with it its helper), as systemd or a package upgrade does, and start it again;
        ``meanwhile`` runs while it is stopped (the network changing under a route server that is down)."""
        self.exabgp.send_signal(sig)
        try:
            self.exabgp.wait(15)
        except subprocess.TimeoutExpired:
            self.exabgp.kill()
            self.exabgp.wait(5)
        if meanwhile is not None:
            meanwhile()
        n = len(list(self.lab.workdir.glob("exabgp.log.*"))) + 1
        self.lab.path("exabgp.log").rename(self.lab.path(f"exabgp.log.{n}"))
        self.exabgp = self.lab.spawn("rs", self.exabgp_args, "exabgp.log", env=self.exabgp_env)

    def data_plane(self) -> None:
        """Packets from the core to 10.10.0.1 (in AWS's 10.10.0.0/16): the core forwards by its BGP table to the route
        server (gateway self), which forwards to the AWS gateway; a receiver listens there."""
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.lab.ns("rs"))
        sh("ip", "route", "replace", "10.10.0.0/16", "via", "10.250.1.2", ns=self.lab.ns("rs"))
        sh("ip", "address", "add", f"{STREAM_DEST}/32", "dev", "lo", ns=self.lab.ns("aws"))
        for ns in ("rs", "aws"):
            sh(
                "sysctl",
                "-qw",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                ns=self.lab.ns(ns),
            )

    def stream(self, seconds: float, rate: float = 1000.0) -> Callable[[], dict[str, Any]]:
        """A sequenced UDP stream core -> 10.10.0.1 for ``seconds``; call the result to wait for and read its
        summary."""
        return udp_stream(
            self.lab,
            sys.executable,
            sender=("core", "10.250.0.2"),
            receiver=("aws", STREAM_DEST),
            port=5000,
            rate=rate,
            seconds=seconds,
            name="udp",
        )

    def steered(self) -> dict[str, list[dict[str, Any]]]:
        """The core's BGP RIB without the egress next-hop routes."""
        return {p: v for p, v in self.core.routes().items() if p not in NH_ROUTES}

    def helper_pid(self) -> int:
        """The bgpsteer process ExaBGP runs, found among this lab's processes only."""
        return helper_pid(self.lab)

    def dump_state(self) -> dict[str, Any]:
        """SIGUSR1: the helper writes its state (config agent.state_dir) and we read it."""
        state = Path(self.settings.state_dir) / "state.json"
        state.unlink(missing_ok=True)
        os.kill(self.helper_pid(), signal.SIGUSR1)
        wait_for("state dump", state.exists, timeout=60)  # written by a niced child: slow on a loaded machine
        return dict(json.loads(state.read_text()))

    @cached_property
    def settings(self) -> AgentSettings:
        """The agent section of the config as the lab started it (tests may rewrite the file later)."""
        return load(self.config).agent

    @property
    def socket(self) -> str:
        return self.settings.socket_path

    def cli(self, *args: str, socket: str | None = None, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the bgpsteer CLI as a NOC engineer would (optionally as another user)."""
        cmd = [sys.executable, "-m", "bgpsteer", *args, "--socket", socket or self.socket]
        if user:
            cmd = ["setpriv", f"--reuid={user}", "--regid=65534", "--clear-groups", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def status(self) -> dict[str, Any] | None:
        """`bgpsteer status --json` of the running helper; None while none answers (it is restarting)."""
        p = self.cli("status", "--json")
        return dict(json.loads(p.stdout)) if p.returncode == 0 else None

    def started(self, old_pid: int | None = None) -> dict[str, Any] | None:
        """The status of a helper (another one than ``old_pid``) that has reconciled and announced its whole table
        (End-of-RIB sent to the core sessions that are up), else None: its own word, not a log line an earlier
        process wrote."""
        s = self.status()
        rt = s["runtime"] if s else None
        if rt and rt["pid"] != old_pid and rt["reconciled"] and rt["table_complete_after_s"] is not None:
            return s
        return None

    def wait_started(self, old_pid: int | None = None, timeout: float = 120) -> dict[str, Any]:
        what = "the helper's start complete (reconciled, whole table announced)"
        return dict(wait_for(what, lambda: self.started(old_pid), timeout=timeout))

    def metrics(self) -> str:
        """Scrape the agent's Prometheus endpoint from inside the route server's namespace."""
        listen = self.settings.metrics
        assert listen, "metrics not configured"
        code = (
            "import urllib.request; "
            f"print(urllib.request.urlopen('http://{listen}/metrics', timeout=5).read().decode())"
        )
        return sh(sys.executable, "-c", code, ns=self.lab.ns("rs"))

    def agent_log(self) -> str:
        return self.lab.path("exabgp.log").read_text(errors="replace")

    def impair(self, cloud: str, delay_ms: float = 0, jitter_ms: float = 0, loss: float = 0) -> None:
        """Set the reflector's impairment in a cloud namespace (build(classes=True))."""
        self.lab.path(f"reflector-{cloud}.json").write_text(
            json.dumps({"delay_ms": delay_ms, "jitter_ms": jitter_ms, "loss": loss})
        )

    def block_probes(self, ns: str, on: bool) -> None:
        """Drop ICMP echo requests arriving in a cloud namespace: its egress's probes fail
        while its BGP session stays up (a data-plane failure BGP alone would not see)."""
        full = self.lab.ns(ns)
        if on:
            drop_probes(full, "bgpsteer_lab")
        else:
            sh("nft", "delete table inet bgpsteer_lab", ns=full)


def helper_pid(lb: Lab, ns: str = "rs") -> int:
    """The bgpsteer process ExaBGP runs in a lab's route server namespace."""
    for pid in sh("ip", "netns", "pids", lb.ns(ns)).split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"bgpsteer run --config" in cmdline:
            return int(pid)
    raise LookupError("bgpsteer helper not running")


def start_exabgp(
    lb: Lab, config: Path, python: str, ns: str = "rs"
) -> tuple[subprocess.Popen[bytes], list[str], dict[str, str]]:
    """ExaBGP in a route server's namespace (``ns``: its files are named after it unless it is the one route server
    "rs"), running bgpsteer with ``config``: (process, its argv, its env)."""
    suffix = "" if ns == "rs" else f"-{ns}"
    confdir = lb.path(f"exabgp{suffix}")
    confdir.mkdir(exist_ok=True)
    command = f"{python} -m bgpsteer run --config {config} --settle 2"
    subprocess.run(
        [python, "-m", "bgpsteer", "exabgp-config", str(config), "-o", str(confdir), "--command", command],
        check=True,
        capture_output=True,
    )
    env = dict(line.split("=", 1) for line in (confdir / "exabgp.env").read_text().split())
    env["exabgp_log_destination"] = "stderr"
    args = [str(Path(python).parent / "exabgp"), str(confdir / "exabgp.conf")]
    return lb.spawn(ns, args, f"exabgp{suffix}.log", env=env), args, env


def start_reflectors(lb: Lab, python: str) -> None:
    """A UDP echo reflector in each cloud namespace (lab/reflector.py), controlled by reflector-CLOUD.json."""
    for cloud, addr in (("aws", "10.250.1.2"), ("gcp", "10.250.2.2")):
        control = lb.path(f"reflector-{cloud}.json")
        control.write_text("{}")
        lb.spawn(
            cloud,
            [python, str(HERE / "reflector.py"), "--listen", f"{addr}:7", "--control", str(control)],
            f"reflector-{cloud}.log",
        )


def core_frr(*, ipv6: bool, core_password: str | None, multipath: bool) -> str:
    """The FRR core's configuration for build()'s options."""
    frr = FRR + (FRR6 if ipv6 else "")
    if multipath:  # policies/README.md: the core settings multipath needs
        frr = replaced(
            frr,
            (" no bgp default ipv4-unicast\n", " no bgp default ipv4-unicast\n bgp bestpath as-path multipath-relax\n"),
        )
        frr = replaced(
            frr, ("  neighbor 10.250.0.1 activate\n", "  neighbor 10.250.0.1 activate\n  maximum-paths ibgp 8\n", 1)
        )
    if core_password is not None:  # TCP-MD5 on the core session (the same password in FRR and in bgpsteer's config)
        frr = replaced(
            frr,
            (
                " neighbor 10.250.0.1 timers 10 30\n",
                f" neighbor 10.250.0.1 timers 10 30\n neighbor 10.250.0.1 password {core_password}\n",
            ),
        )
    return frr


def build(  # noqa: PLR0913 - each option is one part of the lab, all keyword-only
    lb: Lab,
    config: Path = LAB_CONFIG,
    *,
    python: str = sys.executable,
    aws_routes: list[str] = AWS_ROUTES,
    gcp_routes: list[str] = GCP_ROUTES,
    classes: bool = False,
    ipv6: bool = False,
    azure: bool = False,
    core_password: str | None = None,
    bgpsteer_password: str | None = None,
    multipath: bool = False,
    session_timeout: float = 60.0,
) -> Topology:
    """The lab; with classes=True also the core's realtime VRF with its own session, and UDP
    echo reflectors (lab/reflector.py) in the clouds that the egress probes measure; with
    ipv6=True also IPv6 sessions to every daemon and IPv6 cloud prefixes; with azure=True a third
    cloud gateway, played by GoBGP, through egress fra (two gateways behind one egress); with multipath=True the
    FRR core load-balances (maximum-paths, multipath across neighbouring ASes, link-bandwidth weights);
    ``session_timeout``: how long the core session may take to come up (a test that expects it never to shortens
    it)."""
    six = {"core": ",fd00:250::1/126", "aws": ",fd00:250:1::1/126", "gcp": ",fd00:250:2::1/126"} if ipv6 else {}
    lb.link(
        "rs",
        "10.250.0.1/30" + six.get("core", ""),
        "core",
        "10.250.0.2/30" + six.get("core", "").replace("::1/", "::2/"),
    )
    lb.link(
        "rs", "10.250.1.1/30" + six.get("aws", ""), "aws", "10.250.1.2/30" + six.get("aws", "").replace("::1/", "::2/")
    )
    lb.link(
        "rs", "10.250.2.1/30" + six.get("gcp", ""), "gcp", "10.250.2.2/30" + six.get("gcp", "").replace("::1/", "::2/")
    )
    gobgp = None
    if azure:
        lb.link("rs", "10.250.3.1/30", "azure", "10.250.3.2/30")
        gobgp = lb.start_gobgp("azure", GOBGP, "azure")
    realtime = None
    if classes:
        lb.link("rs", "10.250.8.1/30", "corert", "10.250.8.2/30")
        realtime = lb.start_frr("corert", FRR_REALTIME)
        start_reflectors(lb, python)
    core = lb.start_frr("core", core_frr(ipv6=ipv6, core_password=core_password, multipath=multipath))
    aws6 = ("fd00:250:1::2", "fd00:250:1::1", AWS_ROUTES6) if ipv6 else None
    gcp6 = ("fd00:250:2::2", "fd00:250:2::1", GCP_ROUTES6) if ipv6 else None
    aws = lb.start_bird("aws", bird_config("10.250.1.2", 64512, "10.250.1.2", "10.250.1.1", aws_routes, aws6), "aws")
    gcp = lb.start_bird("gcp", bird_config("10.250.2.2", 16550, "10.250.2.2", "10.250.2.1", gcp_routes, gcp6), "gcp")
    # a copy of the config whose state (control socket, journal, dumps) lives in this lab's folder
    text = re.sub(r"(?m)^(\s*state_dir:).*$", lambda m: f"{m.group(1)} {lb.path('state')}", config.read_text())
    if classes:
        text = classes_config(text)
    if ipv6:
        text = ipv6_config(text)
    if azure:
        text = replaced(text, ("core_routers:\n", AZURE + "core_routers:\n"))
    if core_password is not None:  # bgpsteer_password: a different one on bgpsteer's side (a mismatch)
        text = replaced(
            text, ("asn: 65000}", f"asn: 65000, password: {json.dumps(bgpsteer_password or core_password)}}}", 1)
        )
    config = lb.path("bgpsteer.yaml")
    config.write_text(text)
    proc, args, env = start_exabgp(lb, config, python)
    topo = Topology(lb, core, aws, gcp, proc, config, args, env, realtime, gobgp)
    wait_for(
        "core session with ExaBGP",
        lambda: lb.alive(proc, "exabgp.log") and core.established("10.250.0.1"),
        timeout=session_timeout,
    )
    if realtime is not None:
        wait_for("realtime session with ExaBGP", lambda: realtime.established("10.250.8.1"), timeout=60)
    wait_for("cloud sessions", lambda: aws.established("up4") and gcp.established("up4"), timeout=60)
    if gobgp is not None:
        wait_for("GoBGP session", lambda: gobgp.established("10.250.3.1"), timeout=60)
    if ipv6:
        wait_for(
            "IPv6 sessions",
            lambda: aws.established("up6") and gcp.established("up6") and core.established("fd00:250::1"),
            timeout=60,
        )
    return topo
