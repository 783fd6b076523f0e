"""The data-plane lab: real packets from a site through the core and an egress, counted per traffic kind.

    site --10.251.0.0/30-- core (BIRD: default table + realtime class table; nftables marks) --+-- efra -- cloud
                            |  10.250.0.0/30 (default session), 10.250.8.0/30 (realtime session) +-- elon -- cloud
                            rs (ExaBGP + bgpsteer) --10.250.1.0/30-- aws (BIRD, AS64512: egress fra's gateway)
                                                   --10.250.2.0/30-- gcp (BIRD, AS16550: egress lon's gateway)

The core's classification is exactly what `bgpsteer core-config lab/dataplane.yaml` renders (nftables, ip rules,
BIRD's class session into kernel table 101); the lab adds only the default session.  Each egress router (efra,
elon) counts in nftables what it forwards, per kind of traffic: voice (DSCP EF, UDP to an RTP port), bulk (a TCP
transfer), unclassified UDP, and UDP to an EU-bound prefix (10.10.8.0/24, compliance: EU only).  The destinations
live in one "cloud" namespace reachable through both egresses; replies return through lon.

Egress health comes from UDP probes to reflectors in the gateways' namespaces (as in the classes lab):
``degrade`` makes an egress slow, ``fail`` makes it drop everything (probes and forwarded traffic, BGP up).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bgpsteer.config.loader import load
from lab.netlab import Bird, Lab, LabError, kill_netns, nft_counters, sh, wait_for
from lab.pair import gateway, second_config
from lab.textedit import named, replaced
from lab.topology import bird_config, start_exabgp, start_reflectors
from lab.udpstream import bound_mark, flowing_mark

HERE = Path(__file__).resolve().parent
DATAPLANE_CONFIG = HERE / "dataplane.yaml"


def with_relief(capacity_mbps: float) -> Callable[[dict[str, Any]], None]:
    """The data-plane config with fra's and lon's capacities and relief on (1 s hold)."""

    def change(doc: dict[str, Any]) -> None:
        for egress in ("fra", "lon"):
            named(doc["egresses"], egress)["capacity_mbps"] = capacity_mbps
        doc.setdefault("steering", {})["relief"] = {"threshold_pct": 80, "release_pct": 60, "hold": 1}

    return change


EGRESS_NS = {"fra": "efra", "lon": "elon"}
EGRESS_ROUTER = {"fra": "10.252.1.2", "lon": "10.252.2.2"}
CLOUD_ROUTES = ["10.10.0.0/16", "10.10.8.0/24"]  # both gateways announce both

# kind -> (destination, protocol, port, DSCP)
FLOWS: dict[str, tuple[str, str, int, int]] = {
    "voice": ("10.10.0.1", "udp", 20000, 46),
    "bulk": ("10.10.0.2", "tcp", 5001, 0),
    "other": ("10.10.0.3", "udp", 9000, 0),
    "sovereign": ("10.10.8.1", "udp", 9000, 0),
}

CORE_DEFAULT_SESSION = """
router id 10.250.0.2;
protocol direct lab_direct { ipv4; }
protocol kernel lab_kernel { ipv4 { import none; export where source = RTS_BGP; }; }
protocol bgp bgpsteer_default {
  local 10.250.0.2 as 65000;
  neighbor 10.250.0.1 as 65000;
  strict bind on;
  hold time 30;
  ipv4 { add paths rx; import filter bgpsteer_import4; export none; };
}
"""

COUNTERS = """
table inet lab_counters {
%s
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "core*" ip daddr 10.10.0.1 udp dport 20000 counter name voice
    iifname "core*" ip daddr 10.10.0.2 tcp dport 5001 counter name bulk
    iifname "core*" ip daddr 10.10.0.3 udp dport 9000 counter name other
    iifname "core*" ip daddr 10.10.8.1 counter name sovereign
  }
}
""" % "\n".join(f"  counter {k} {{}}" for k in FLOWS)  # noqa: UP031 - braces of nft syntax


@dataclass
class DataPlane:
    lab: Lab
    core: Bird
    aws: Bird
    gcp: Bird
    exabgp: subprocess.Popen[bytes]
    config: Path
    python: str = sys.executable
    rsb: tuple[subprocess.Popen[bytes], Path] | None = None  # build(pair=True): the second route server

    def kill(self, rs: str) -> None:
        """A whole route server dies at once (ExaBGP and its helper, SIGKILL): only in a pair."""
        kill_netns(self.lab.ns(rs))
        (self.exabgp if rs == "rs" else self._second()[0]).wait(10)

    def start(self, rs: str, config: Path | None = None) -> None:
        config = config or (self.config if rs == "rs" else self._second()[1])
        proc, _, _ = start_exabgp(self.lab, config, self.python, ns=rs)
        if rs == "rs":
            self.exabgp = proc
        else:
            self.rsb = (proc, config)

    def _second(self) -> tuple[subprocess.Popen[bytes], Path]:
        if self.rsb is None:
            raise LabError("not a pair: build(pair=True)")
        return self.rsb

    def core_paths(self) -> dict[str, int]:
        """Routes the core's BIRD holds from each bgpsteer session (its two in a pair: one of each per RS)."""
        out = {}
        for proto in CORE_SESSIONS[: 4 if self.rsb is not None else 2]:
            text = self.core.cmd("show", "route", "protocol", proto, "count")
            m = re.search(r"(\d+) of \d+ routes", text)
            out[proto] = int(m.group(1)) if m else 0
        return out

    @property
    def socket(self) -> str:
        return load(self.config).agent.socket_path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [self.python, "-m", "bgpsteer", *args, "--socket", self.socket]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    def cli_json(self, *args: str) -> Any:
        p = self.cli(*args, "--json")
        if p.returncode != 0:
            raise LabError(f"bgpsteer {' '.join(args)}: exit {p.returncode}: {p.stderr.strip()}")
        return json.loads(p.stdout)

    def agent_log(self) -> str:
        return self.lab.path("exabgp.log").read_text(errors="replace")

    # -- faults -----------------------------------------------------------------------------------

    def degrade(self, egress: str, delay_ms: float = 0, jitter_ms: float = 0, loss: float = 0) -> None:
        """What the egress's probes measure (the reflector behind it adds it)."""
        cloud = "aws" if egress == "fra" else "gcp"
        self.lab.path(f"reflector-{cloud}.json").write_text(
            json.dumps({"delay_ms": delay_ms, "jitter_ms": jitter_ms, "loss": loss})
        )

    def fail(self, egress: str, on: bool = True, probes: bool = True) -> None:
        """The egress drops everything: the traffic it forwards and (``probes``) its probes; BGP stays up.  One
        nft transaction per namespace, the probes' first: the data plane fails within milliseconds after."""
        cloud = "aws" if egress == "fra" else "gcp"
        where = ([(cloud, "input", "udp dport 7 drop")] if probes else []) + [(EGRESS_NS[egress], "forward", "drop")]
        for ns, hook, rule in where:
            full = self.lab.ns(ns)
            if on:
                script = self.lab.path(f"fail-{ns}.nft")
                script.write_text(
                    f"table inet lab_fail {{\n  chain c {{\n    type filter hook {hook} priority -10; policy accept;\n"
                    f"    {rule}\n  }}\n}}\n"
                )
                sh("nft", "-f", str(script), ns=full)
            else:
                sh("nft", "delete table inet lab_fail", ns=full, check=False)

    def shape(self, egress: str, kbytes_per_s: int) -> None:
        """The egress's capacity: what it forwards from the core above this rate is dropped (an nftables policer,
        there is no tc netem here), counted before (offered) and as dropped."""
        script = self.lab.path(f"shape-{egress}.nft")
        script.write_text(
            "table inet lab_shape {\n  counter offered {}\n  counter dropped {}\n  chain forward {\n"
            "    type filter hook forward priority -10; policy accept;\n"
            '    iifname "core*" counter name offered\n'
            f'    iifname "core*" limit rate over {kbytes_per_s} kbytes/second burst 4 kbytes'
            " counter name dropped drop\n"
            "  }\n}\n"
        )
        sh("nft", "-f", str(script), ns=self.lab.ns(EGRESS_NS[egress]))

    def shaper(self, egress: str) -> dict[str, int]:
        """Bytes the egress was offered and dropped (shape())."""
        return nft_counters(self.lab.ns(EGRESS_NS[egress]), "lab_shape", "bytes")

    def meter_flows(self) -> None:
        """Flow data from the core (what a flow collector reports): bytes per destination of each traffic kind."""
        script = self.lab.path("flows-core.nft")
        rules = "".join(f"    ip daddr {dest} counter name {k}\n" for k, (dest, *_) in FLOWS.items())
        counters = "".join(f"  counter {k} {{}}\n" for k in FLOWS)
        script.write_text(
            f"table inet lab_flows {{\n{counters}  chain forward {{\n"
            f"    type filter hook forward priority -20; policy accept;\n{rules}  }}\n}}\n"
        )
        sh("nft", "-f", str(script), ns=self.lab.ns("core"))

    def flow_bytes(self) -> dict[str, int]:
        """Bytes the core forwarded per traffic kind (meter_flows())."""
        return nft_counters(self.lab.ns("core"), "lab_flows", "bytes")

    # -- what the data plane does -----------------------------------------------------------------

    def counters(self) -> dict[str, dict[str, int]]:
        """egress -> kind -> packets it forwarded."""
        return {egress: nft_counters(self.lab.ns(ns), "lab_counters") for egress, ns in EGRESS_NS.items()}

    def reset_counters(self) -> None:
        for ns in EGRESS_NS.values():
            sh("nft", "reset", "counters", "table", "inet", "lab_counters", ns=self.lab.ns(ns))

    def core_egress(self, kind: str) -> str | None:
        """Which egress router the core's FIB sends this kind of packet to now (its mark and table), or None."""
        dest = FLOWS[kind][0]
        mark = ["mark", "101"] if kind == "voice" else []
        out = sh(
            "ip",
            "-4",
            "route",
            "get",
            dest,
            *mark,
            "from",
            "10.251.0.2",
            "iif",
            _site_if(self),
            ns=self.lab.ns("core"),
            check=False,
        )
        for egress, router in EGRESS_ROUTER.items():
            if f"via {router} " in out:
                return egress
        return None

    def traffic(
        self, seconds: float, rate: float = 200.0, kinds: tuple[str, ...] | None = None, flowing: bool = False
    ) -> Callable[[], dict[str, Any]]:
        """Every kind of traffic (or ``kinds``) from the site for ``seconds`` (UDP at ``rate`` packets/s, bulk as
        fast as TCP goes); call the result to wait for the senders and read what the receivers saw.  ``flowing``:
        return only once every UDP stream has delivered a datagram (before a fault injected mid-stream; not for a
        stream that may have no path)."""
        script = str(HERE / "udpstream.py")
        stamp = time.monotonic_ns()
        outs: dict[str, Path] = {}
        procs: list[subprocess.Popen[bytes]] = []
        flows = {k: v for k, v in FLOWS.items() if kinds is None or k in kinds}
        for kind, (dest, proto, port, _) in flows.items():
            outs[kind] = self.lab.path(f"flow-{kind}-{stamp}.json")
            mode = "tcp-sink" if proto == "tcp" else "recv"
            procs.append(
                self.lab.spawn(
                    "cloud",
                    [
                        self.python,
                        script,
                        mode,
                        dest,
                        str(port),
                        "--seconds",
                        str(seconds + 4),
                        "--out",
                        str(outs[kind]),
                    ],
                    f"flow-{kind}-recv.log",
                )
            )
        for kind, path in outs.items():
            wait_for(f"the {kind} receiver listening", bound_mark(path).exists, timeout=15, interval=0.05)
        senders = []
        for kind, (dest, proto, port, dscp) in flows.items():
            args = (
                ["tcp-send", dest, str(port), "--seconds", str(seconds), "--dscp", str(dscp)]
                if proto == "tcp"
                else ["send", dest, str(port), "--rate", str(rate), "--seconds", str(seconds), "--dscp", str(dscp)]
            )
            senders.append(self.lab.spawn("site", [self.python, script, *args], f"flow-{kind}-send.log"))

        for kind, (_, proto, _, _) in flows.items():
            if flowing and proto != "tcp":  # a datagram arrived: the stream flows (a fault may come now)
                wait_for(f"the {kind} stream flowing", flowing_mark(outs[kind]).exists, timeout=15, interval=0.05)

        def result() -> dict[str, Any]:
            for p in senders:
                p.wait(seconds + 30)
            for p in procs:
                p.wait(30)
            return {kind: json.loads(path.read_text()) for kind, path in outs.items() if path.exists()}

        return result


def _site_if(dp: DataPlane) -> str:
    for line in sh("ip", "-o", "-4", "addr", "show", ns=dp.lab.ns("core")).splitlines():
        if "10.251.0.1/" in line:
            return line.split()[1]
    raise LabError("the core has no site interface")


def _forwarding(lb: Lab, *names: str) -> None:
    for name in names:
        sh(
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
            ns=lb.ns(name),
        )


CORE_SESSIONS = ("bgpsteer_default", "bgpsteer_realtime", "bgpsteer_default_b", "bgpsteer_realtime_b")


def second_sessions(bird: str) -> str:
    """The core's sessions with rsb in a pair: the default one and a copy of the rendered realtime one, on rsb's
    links (10.250.1N.0/30), into the same tables."""
    start = bird.index("protocol bgp bgpsteer_realtime {")
    realtime = bird[start : bird.index("\n}\n", start) + 3]
    both = CORE_DEFAULT_SESSION.split("protocol bgp", 1)[1] + realtime.split("protocol bgp", 1)[1]
    both = replaced(
        both, ("bgpsteer_default {", "bgpsteer_default_b {"), ("bgpsteer_realtime {", "bgpsteer_realtime_b {")
    )
    both = re.sub(r"10\.250\.([08])\.", lambda m: f"10.250.1{m.group(1)}.", both)
    return "\nprotocol bgp" + replaced(both, ("\n}\n", "\n}\nprotocol bgp", 1))


def build(
    lb: Lab,
    config: Path = DATAPLANE_CONFIG,
    python: str = sys.executable,
    extra_routes: tuple[str, ...] = (),
    config_text: str | None = None,
    *,
    pair: bool = False,
) -> DataPlane:
    """The data-plane lab, with its sessions up and traffic able to flow; ``extra_routes``: more prefixes both
    gateways announce (benchmarks at scale); ``config_text``: a variant of the config to run instead; ``pair``: a
    second route server rsb (lab/pair.py's addressing: its links are 10.250.1N.0/30) with the same config, its own
    sessions with the core and both gateways, its own probes.  Both announce NH_E with the real egress router as
    next hop, so a path from either resolves to the same FIB entry."""
    lb.link("rs", "10.250.0.1/30,10.250.8.1/30", "core", "10.250.0.2/30,10.250.8.2/30")
    lb.link("rs", "10.250.1.1/30", "aws", "10.250.1.2/30")
    lb.link("rs", "10.250.2.1/30", "gcp", "10.250.2.2/30")
    if pair:
        lb.link("rsb", "10.250.10.1/30,10.250.18.1/30", "core", "10.250.10.2/30,10.250.18.2/30")
        lb.link("rsb", "10.250.11.1/30", "aws", "10.250.11.2/30")
        lb.link("rsb", "10.250.12.1/30", "gcp", "10.250.12.2/30")
    lb.link("site", "10.251.0.2/30", "core", "10.251.0.1/30")
    lb.link("core", "10.252.1.1/30", "efra", "10.252.1.2/30")
    lb.link("core", "10.252.2.1/30", "elon", "10.252.2.2/30")
    lb.link("efra", "10.253.1.1/30", "cloud", "10.253.1.2/30")
    lb.link("elon", "10.253.2.1/30", "cloud", "10.253.2.2/30")
    _forwarding(lb, "core", "efra", "elon", "cloud", "site")
    sh("ip", "route", "add", "default", "via", "10.251.0.1", ns=lb.ns("site"))
    for egress, n in (("efra", "1"), ("elon", "2")):
        sh("ip", "route", "add", "10.10.0.0/16", "via", f"10.253.{n}.2", ns=lb.ns(egress))
        sh("ip", "route", "add", "10.251.0.0/30", "via", f"10.252.{n}.1", ns=lb.ns(egress))
        (lb.path(f"counters-{egress}.nft")).write_text(COUNTERS)
        sh("nft", "-f", str(lb.path(f"counters-{egress}.nft")), ns=lb.ns(egress))
    for dest, *_ in FLOWS.values():
        sh("ip", "address", "add", f"{dest}/32", "dev", "lo", ns=lb.ns("cloud"))
    sh("ip", "route", "add", "10.251.0.0/30", "via", "10.253.2.1", ns=lb.ns("cloud"))  # replies return through lon

    # the core: exactly what `bgpsteer core-config` renders, plus the default session
    text = re.sub(
        r"(?m)^(\s*state_dir:).*$", lambda m: f"{m.group(1)} {lb.path('state')}", config_text or config.read_text()
    )
    if pair:
        # no graceful restart towards the core: a dead route server's paths leave the core at once, so the test
        # measures the other one carrying the traffic (stale paths would carry it too, with the same next hop)
        text = replaced(text, ("agent:\n", "agent:\n  graceful_restart: 0\n", 1))
    cfg_path = lb.path("bgpsteer.yaml")
    cfg_path.write_text(text)
    rendered = lb.path("core-config")
    subprocess.run(
        [python, "-m", "bgpsteer", "core-config", str(cfg_path), "--target", "linux", "-o", str(rendered)],
        check=True,
        capture_output=True,
    )
    sh("nft", "-f", str(rendered / "classes.nft"), ns=lb.ns("core"))
    sh("sh", str(rendered / "ip-rules.sh"), ns=lb.ns("core"))
    bird = (rendered / "bird-classes.conf").read_text() + CORE_DEFAULT_SESSION
    core = lb.start_bird("core", bird + (second_sessions(bird) if pair else ""), "core")

    start_reflectors(lb, python)
    routes = [*CLOUD_ROUTES, *extra_routes]
    if pair:
        for cloud, addr in (("aws", "10.250.11.2"), ("gcp", "10.250.12.2")):  # rsb's probes: the same reflector
            lb.spawn(
                cloud,
                [
                    python,
                    str(HERE / "reflector.py"),
                    "--listen",
                    f"{addr}:7",
                    "--control",
                    str(lb.path(f"reflector-{cloud}.json")),
                ],
                f"reflector-{cloud}-b.log",
            )
        aws = lb.start_bird(
            "aws", gateway(64512, (("10.250.1.2", "10.250.1.1"), ("10.250.11.2", "10.250.11.1")), routes), "aws"
        )
        gcp = lb.start_bird(
            "gcp", gateway(16550, (("10.250.2.2", "10.250.2.1"), ("10.250.12.2", "10.250.12.1")), routes), "gcp"
        )
    else:
        aws = lb.start_bird("aws", bird_config("10.250.1.2", 64512, "10.250.1.2", "10.250.1.1", routes), "aws")
        gcp = lb.start_bird("gcp", bird_config("10.250.2.2", 16550, "10.250.2.2", "10.250.2.1", routes), "gcp")

    proc, _, _ = start_exabgp(lb, cfg_path, python)
    dp = DataPlane(lb, core, aws, gcp, proc, cfg_path, python)
    if pair:
        rsb_path = lb.path("bgpsteer-rsb.yaml")
        rsb_path.write_text(second_config(text, lb.path("state-rsb")))
        dp.start("rsb", rsb_path)
    wait_for(
        "the core's sessions with bgpsteer",
        lambda: (
            lb.alive(proc, "exabgp.log")
            and (dp.rsb is None or lb.alive(dp.rsb[0], "exabgp-rsb.log"))
            and all(core.established(p) for p in CORE_SESSIONS[: 4 if pair else 2])
        ),
        timeout=60,
    )
    wait_for(
        "cloud sessions",
        lambda: all(b.established(p) for b in (aws, gcp) for p in (("up4", "up4b") if pair else ("up4",))),
        timeout=60,
    )
    return dp
