"""Failover benchmark: from an egress's probes failing to the core router having moved every prefix.

For each size N (default 1k, 10k, 100k), in namespaces with real daemons
(lab/topology.py: ExaBGP + bgpsteer, FRR core, two BIRD clouds announcing the
same N prefixes; probes every 100 ms, fall 3, rise 3, hold-down 5 s):

- bgpsteer (next-hop indirection): ICMP to the ams gateway is dropped by an
  nftables rule; measured until FRR has dropped ams's next-hop route, and
  until the core's kernel FIB has moved all N prefixes to fra;
- failback: the rule goes; time until the FIB is back on ams (includes the
  hold-down, by design);
- per-prefix re-announcement (for comparison): ``bgpsteer drain ams``
  re-announces the N ams paths with LOCAL_PREF 0; time until the FIB moved;
- ``exabgp healthcheck`` with its defaults (interval 5 s, fast interval 1 s,
  rise/fall 3), watching the same gateway with the same ICMP probe, in the
  same run: time from the same failure until it withdraws its route.

To tell the egresses apart in the FIB, ams's next-hop route resolves via a
second link (gateway 10.250.9.1).  Times are from the moment the drop rule
is installed, so they include up to one probe interval before the first
failed probe.  Prints numbers; asserts nothing.

    sudo .venv/bin/python bench/failover.py --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_root, need_some  # noqa: E402
from lab.netlab import Lab, lab, sh, wait_for  # noqa: E402
from lab.topology import LAB_CONFIG, Topology, build  # noqa: E402

FRA_GW, AMS_GW = "10.250.0.1", "10.250.9.1"


def fib(t: Topology) -> tuple[int, int]:
    """(routes via fra's gateway, routes via ams's gateway) in the core's kernel FIB."""
    out = sh("ip", "-4", "route", "show", "proto", "bgp", ns=t.lab.ns("core"), timeout=60)
    fra = ams = 0
    for line in out.splitlines():
        if line.startswith("10.255."):
            continue  # the egress next-hop routes themselves
        if f"via {AMS_GW} " in line:
            ams += 1
        elif f"via {FRA_GW} " in line:
            fra += 1
    return fra, ams


class FibMonitor:
    """'ip monitor route' in the core's namespace: when each prefix moved to a gateway, read as it happens
    (cheap and precise; polling a 100k-route table would itself slow the core down)."""

    def __init__(self, t: Topology, gateway: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", t.lab.ns("core"), "ip", "-4", "monitor", "route"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.gateway = f" via {gateway} "
        self.moved: set[str] = set()
        self.last = 0.0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.gateway in line and not line.startswith(("Deleted", "10.255.")):
                self.moved.add(line.split()[0])
                self.last = time.time()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def nh_present(t: Topology) -> bool:
    return bool(t.core.vtysh("show bgp ipv4 unicast 10.255.0.2/32 json").get("paths"))


class Healthcheck:
    """exabgp healthcheck (defaults) watching a gateway from the route server's namespace; records when it
    withdraws (default: the ams gateway of lab/topology.py)."""

    def __init__(self, lb: Lab, target: str = "10.250.2.2", source: str = "10.250.2.1", kind: str = "icmp") -> None:
        port = " --port 7" if kind == "udp" else ""
        probe = f"{sys.executable} -m bgpsteer probe {kind} {target}{port} --timeout 1 --source {source}"
        cmd = [
            "ip",
            "netns",
            "exec",
            lb.ns("rs"),
            str(Path(sys.executable).parent / "exabgp"),
            "healthcheck",
            "--no-syslog",
            "--no-ip-setup",
            "--no-ack",
            "--ip",
            "10.255.0.2/32",
            "--withdraw-on-down",
            "--command",
            probe,
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.strip()))

    def first(self, word: str, after: float) -> float | None:
        return next((ts for ts, line in self.lines if ts >= after and f" {word} route " in line), None)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def measure(n: int, timeout: float) -> dict[str, float | None]:
    prefixes = [f"{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}.0/24" for i in range(n)]
    text = LAB_CONFIG.read_text().replace(
        "max_prefix: {limit: 1000, action: stop}", "max_prefix: {limit: 1000000, action: warn}"
    )
    text = text.replace("    next_hop: 10.255.0.2\n", f"    next_hop: 10.255.0.2\n    gateway: {AMS_GW}\n")
    with lab() as lb:
        cfg = lb.path("failover.yaml")
        cfg.write_text(text)
        t = build(lb, cfg, aws_routes=prefixes, gcp_routes=prefixes)
        lb.link("rs", f"{AMS_GW}/30", "core", "10.250.9.2/30")
        wait_for(f"{n} prefixes on ams in the FIB", lambda: fib(t) == (0, n), timeout=timeout, interval=1)
        hc = Healthcheck(t.lab)
        try:
            wait_for("healthcheck up", lambda: hc.first("announce", 0) is not None, timeout=60)
            monitor = FibMonitor(t, FRA_GW)
            time.sleep(0.5)
            t0 = time.time()
            t.block_probes("gcp", True)
            nh_gone = fib_moved = None
            deadline = time.monotonic() + timeout
            while (nh_gone is None or len(monitor.moved) < n) and time.monotonic() < deadline:
                if nh_gone is None and not nh_present(t):
                    nh_gone = time.time() - t0
                time.sleep(0.02)
            monitor.stop()
            if len(monitor.moved) >= n:
                fib_moved = monitor.last - t0
            # and the whole table agrees (the monitor could have missed nothing and added nothing)
            wait_for("every prefix on fra in the FIB", lambda: fib(t) == (n, 0), timeout=timeout, interval=0.5)
            wait_for("healthcheck withdraws", lambda: hc.first("withdraw", t0), timeout=60)
            hc_time = (hc.first("withdraw", t0) or t0) - t0
            t1 = time.time()
            t.block_probes("gcp", False)
            wait_for("FIB back on ams", lambda: fib(t) == (0, n), timeout=timeout, interval=0.1)
            failback = time.time() - t1
        finally:
            hc.stop()
        t2 = time.time()
        drained = t.cli("drain", "ams")
        assert drained.returncode == 0, drained.stderr
        wait_for("FIB moved by per-prefix re-announcement", lambda: fib(t) == (n, 0), timeout=timeout, interval=0.1)
        per_prefix = time.time() - t2
    return {
        "nh_bgp": nh_gone,
        "nh_fib": fib_moved,
        "failback": failback,
        "per_prefix": per_prefix,
        "healthcheck": hc_time,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    need_root()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    need_some("sizes (--sizes)", sizes)
    results = {n: measure(n, args.timeout) for n in sizes}

    def f(v: float | None) -> str:
        return "timeout" if v is None else f"{v:.2f}"

    if all(r["nh_fib"] is None for r in results.values()):
        fail("the core's FIB never moved in any run: nothing was measured")
    print("seconds from the failure (drop rule installed) until ...")
    print(
        f"{'prefixes':>9}  {'NH route gone':>13}  {'FIB moved':>9}  {'failback*':>9}  {'per-prefix FIB':>14}  "
        f"{'exabgp healthcheck':>18}"
    )
    for n, r in results.items():
        print(
            f"{n:>9,}  {f(r['nh_bgp']):>13}  {f(r['nh_fib']):>9}  {f(r['failback']):>9}  {f(r['per_prefix']):>14}  "
            f"{f(r['healthcheck']):>18}"
        )
    print("NH route gone / FIB moved: bgpsteer, probes every 100 ms, fall 3 (next-hop indirection: one withdrawal)")
    print("failback*: from the failure's end, includes rise 3 and the 5 s hold-down")
    print(
        "per-prefix FIB: bgpsteer drain (every path re-announced, LOCAL_PREF 0): the cost of steering prefix by prefix"
    )
    print(
        "exabgp healthcheck: defaults (interval 5 s, fast 1 s, rise/fall 3): time until it withdraws, before any BGP "
        "propagation"
    )


if __name__ == "__main__":
    main()
