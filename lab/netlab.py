"""Network-namespace lab: real BGP daemons on veth links, always torn down.

Everything this module creates lives inside namespaces whose names start
with a per-run tag, so two runs (or a crashed earlier run) never collide and
teardown can find all of it.  Addresses are only ever configured inside
those namespaces; nothing here sends traffic anywhere else.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bgpsteer.core.prefix import covers, parse_prefix

FRR_DIR = Path("/usr/lib/frr")


class LabError(RuntimeError):
    pass


def sh(*args: str, check: bool = True, ns: str | None = None, timeout: float = 30) -> str:
    cmd = list(args)
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def kill_netns(nsname: str) -> None:
    """SIGKILL every process in a namespace: a whole node dies at once, no goodbye."""
    for pid in sh("ip", "netns", "pids", nsname, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def drop_probes(nsname: str, table: str, source: str | None = None, verdict: str = "drop") -> None:
    """Drop the egress probes arriving in a namespace (ICMP echo requests and UDP echo, from ``source`` only if
    given) in an nftables table of their own: BGP is untouched.  ``verdict``: e.g. a random share of them."""
    sh("nft", f"add table inet {table}", ns=nsname)
    sh("nft", f"add chain inet {table} input {{ type filter hook input priority 0 ; }}", ns=nsname)
    saddr = f"ip saddr {source} " if source else ""
    for match in ("icmp type echo-request", "udp dport 7"):
        sh("nft", f"add rule inet {table} input {saddr}{match} {verdict}", ns=nsname)


def nft_counters(nsname: str, table: str, field: str = "packets") -> dict[str, int]:
    """The named counters of an nftables table in a namespace: name -> packets (or bytes)."""
    data = json.loads(sh("nft", "-j", "list", "counters", "table", "inet", table, ns=nsname))
    return {item["counter"]["name"]: int(item["counter"][field]) for item in data["nftables"] if "counter" in item}


def longest_route(prefixes: Iterable[str], address: str) -> str | None:
    """The longest of ``prefixes`` covering an IPv4 address (what a FIB forwards it by); None: none covers it."""
    target = parse_prefix(f"{address}/32")
    covering = [p for p in prefixes if covers(parse_prefix(p), target)]
    return max(covering, key=lambda p: parse_prefix(p)[2]) if covering else None


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Poll predicate until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_exc = exc
        time.sleep(interval)
    raise LabError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else "")
    )


@dataclass
class Lab:
    """A set of namespaces joined by point-to-point veth links."""

    tag: str = field(default_factory=lambda: f"bs{os.getpid() % 100000}")
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bgpsteer-lab-")))
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    links: int = 0  # numbers the veth names: unique even when many links join one namespace (a fleet's monitor)

    def __post_init__(self) -> None:
        self.workdir.chmod(0o755)  # FRR drops to user frr and must reach its run folder

    def ns(self, name: str) -> str:
        full = f"{self.tag}-{name}"
        if full not in self.namespaces:
            sh("ip", "netns", "add", full)
            self.namespaces.append(full)
            sh("ip", "link", "set", "lo", "up", ns=full)
        return full

    def link(self, a: str, a_addr: str, b: str, b_addr: str, names: tuple[str, str] | None = None) -> tuple[str, str]:
        """veth between namespaces a and b, addresses with prefix length (v4 or v6; comma-separated, or empty);
        names: the interfaces' names in a and in b (a containerlab file's endpoints), else named after the peer."""
        na, nb = self.ns(a), self.ns(b)
        self.links += 1
        n = self.links
        ia, ib = names or (f"{b[:6]}{n}", f"{a[:6]}{n}")  # named after the peer: nftables rules match "core*"
        tmp_a, tmp_b = f"{self.tag}a{n}{a[:2]}{b[:2]}"[:15], f"{self.tag}b{n}{a[:2]}{b[:2]}"[:15]
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", na, "name", ia)
        sh("ip", "link", "set", tmp_b, "netns", nb, "name", ib)
        for nsname, ifname, addr in ((na, ia, a_addr), (nb, ib, b_addr)):
            for one in filter(None, addr.split(",")):
                extra = ["nodad"] if ":" in one else []
                sh("ip", "addr", "add", one, "dev", ifname, *extra, ns=nsname)
            sh("ip", "link", "set", ifname, "up", ns=nsname)
        return ia, ib

    def path(self, name: str) -> Path:
        p = self.workdir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def spawn(self, ns: str, args: list[str], log: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        logf = open(self.path(log), "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(ns), *args],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def alive(self, proc: subprocess.Popen[bytes], log: str) -> bool:
        if proc.poll() is not None:
            raise LabError(f"process exited with {proc.returncode}: {self.path(log).read_text()[-2000:]}")
        return True

    # -- daemons -------------------------------------------------------

    def start_frr(self, ns: str, config: str) -> Frr:
        rundir = self.path(f"frr-{ns}")
        rundir.mkdir(exist_ok=True)
        shutil.chown(rundir, "frr", "frr")
        conf = rundir / "frr.conf"
        conf.write_text(config)
        shutil.chown(conf, "frr", "frr")
        nsname = self.ns(ns)
        zsock = rundir / "zserv.api"
        start_frr_daemon("zebra", nsname, rundir)
        wait_for("zebra socket", zsock.exists, timeout=15)
        start_frr_daemon("bgpd", nsname, rundir)
        frr = Frr(nsname, rundir)
        wait_for("bgpd vty", lambda: frr.vtysh("show bgp summary json") is not None, timeout=15)
        return frr

    def start_gobgp(self, ns: str, config: str, name: str) -> GoBgp:
        """gobgpd with a TOML config; its gRPC API listens only on the namespace's own loopback."""
        conf = self.path(f"gobgp-{name}/gobgpd.toml")
        conf.write_text(config)
        proc = self.spawn(
            ns, ["gobgpd", "-f", str(conf), "--api-hosts", "127.0.0.1:50051", "-l", "info"], f"gobgp-{name}/gobgpd.log"
        )
        g = GoBgp(self.ns(ns))
        wait_for(
            f"gobgpd {name} API",
            lambda: self.alive(proc, f"gobgp-{name}/gobgpd.log") and g.cmd("global") is not None,
            timeout=15,
        )
        return g

    def start_bird(self, ns: str, config: str, name: str) -> Bird:
        conf = self.path(f"bird-{name}/bird.conf")
        conf.write_text(config)
        sock = conf.parent / "bird.ctl"
        proc = self.spawn(
            ns,
            ["bird", "-f", "-c", str(conf), "-s", str(sock), "-P", str(conf.parent / "bird.pid")],
            f"bird-{name}/bird.log",
        )
        wait_for(
            f"bird {name} control socket",
            lambda: self.alive(proc, f"bird-{name}/bird.log") and sock.exists(),
            timeout=15,
        )
        return Bird(self.ns(ns), conf, sock)

    # -- teardown --------------------------------------------------------

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for nsname in self.namespaces:
            kill_netns(nsname)
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for nsname in self.namespaces:
            sh("ip", "netns", "delete", nsname, check=False)
        self.namespaces.clear()
        self.procs.clear()
        if os.environ.get("BGPSTEER_KEEP_LAB"):
            print(f"lab files kept in {self.workdir} (BGPSTEER_KEEP_LAB is set)")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_frr_daemon(daemon: str, nsname: str, rundir: Path) -> None:
    """One FRR daemon (zebra, bgpd) in a namespace, daemonised, on the lab's frr.conf and zebra socket; bgpd with
    the BMP module (FRR's bgpd_bmp.so), so that a core can be monitored by bgpsteer's BMP station."""
    modules = ["-M", "bmp"] if daemon == "bgpd" else []
    sh(
        str(FRR_DIR / daemon),
        *modules,
        "-d",
        "-u",
        "frr",
        "-g",
        "frr",
        "-f",
        str(rundir / "frr.conf"),
        "-i",
        str(rundir / f"{daemon}.pid"),
        "--vty_socket",
        str(rundir),
        "-z",
        str(rundir / "zserv.api"),
        "--log",
        f"file:{rundir}/{daemon}.log",
        ns=nsname,
    )


@dataclass
class Frr:
    nsname: str
    rundir: Path

    def restart_bgpd(self) -> None:
        """Kill bgpd (SIGKILL: a crash, no NOTIFICATION sent) and start it again from frr.conf."""
        pid = int((self.rundir / "bgpd.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        wait_for("bgpd gone", lambda: not Path(f"/proc/{pid}").exists(), timeout=10)
        (self.rundir / "bgpd.pid").unlink(missing_ok=True)
        start_frr_daemon("bgpd", self.nsname, self.rundir)
        wait_for("bgpd vty", lambda: self.vtysh("show bgp summary json") is not None, timeout=15)

    def vtysh(self, command: str) -> Any:
        out = sh("vtysh", "--vty_socket", str(self.rundir), "-c", command, ns=self.nsname, timeout=20)
        return json.loads(out) if command.endswith("json") else out

    def routes(self, family: str = "ipv4", vrf: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """prefix -> list of paths, as FRR's BGP RIB holds them (in a VRF if given)."""
        data = self.vtysh(f"show bgp {'vrf ' + vrf + ' ' if vrf else ''}{family} unicast json")
        return dict(data.get("routes", {}))

    def route_detail(self, prefix: str, family: str = "ipv4") -> dict[str, Any]:
        return dict(self.vtysh(f"show bgp {family} unicast {prefix} json"))

    def established(self, peer: str) -> bool:
        data = self.vtysh("show bgp summary json")
        for fam in data.values():
            peer_data = fam.get("peers", {}).get(peer)
            if peer_data and peer_data.get("state") == "Established":
                return True
        return False


@dataclass
class GoBgp:
    nsname: str

    def cmd(self, *args: str) -> str:
        return sh("gobgp", "-u", "127.0.0.1", "-p", "50051", *args, ns=self.nsname, timeout=20)

    def announce(self, prefix: str, next_hop: str, community: str | None = None) -> None:
        extra = ["community", community] if community else []
        self.cmd("global", "rib", "add", prefix, "origin", "igp", "nexthop", next_hop, *extra, "-a", "ipv4")

    def withdraw(self, prefix: str) -> None:
        self.cmd("global", "rib", "del", prefix, "-a", "ipv4")

    def established(self, peer: str) -> bool:
        return any(line.split()[:1] == [peer] and "Establ" in line for line in self.cmd("neighbor").splitlines())


@dataclass
class Bird:
    nsname: str
    conf: Path
    sock: Path

    def cmd(self, *args: str) -> str:
        return sh("birdc", "-s", str(self.sock), *args, ns=self.nsname)

    def reconfigure(self, config: str) -> None:
        self.conf.write_text(config)
        out = self.cmd("configure")
        if "Reconfigured" not in out and "Reconfiguration in progress" not in out and "Reconfiguration" not in out:
            raise LabError(f"bird reconfigure failed: {out}")

    def established(self, protocol: str) -> bool:
        return "Established" in self.cmd("show", "protocols", protocol)


_live: list[Lab] = []


def _cleanup_all() -> None:
    for lab in list(_live):
        lab.close()


atexit.register(_cleanup_all)


def _cleanup_and_exit(*_: object) -> None:
    _cleanup_all()
    os._exit(143)


@contextmanager
def lab(tag: str | None = None) -> Iterator[Lab]:
    the_lab = Lab(tag=tag) if tag else Lab()
    _live.append(the_lab)
    prev = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _cleanup_and_exit)
    try:
        yield the_lab
    finally:
        the_lab.close()
        _live.remove(the_lab)
        signal.signal(signal.SIGTERM, prev)


def remove_stale(prefix: str = "bs") -> list[str]:
    """Remove namespaces left by an earlier run that was killed hard (SIGKILL)."""
    removed = []
    for line in sh("ip", "netns", "list", check=False).splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(prefix) and "-" in name:
            kill_netns(name)
            sh("ip", "netns", "delete", name, check=False)
            removed.append(name)
    return removed
