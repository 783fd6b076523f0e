"""Pipe-stall benchmark: how long does each NOC command or signal keep the helper from reading ExaBGP?

ExaBGP blocks when its helper stops reading (and then misses keepalives), so no operator action
may leave the pipe unread for long (goal: at most 100 ms at 1M routes).  This runs the real helper
(``python -m bgpsteer run``) from a source tree, plays ExaBGP on its pipe (acks every command), loads
``--routes`` paths (two cloud peers sharing the prefixes), then runs each command and signal once.

How the stall is measured, from outside (so any version of the helper can be measured): the
helper's stdin pipe is shrunk to one page and a ~4 KB ignorable line is written every 10 ms; each
write returns only once the helper has read the previous one, so the longest write during a
command is the longest time the helper left its pipe unread (resolution ~10 ms).

    python bench/stall.py --routes 1000000
    python bench/stall.py --routes 1000000 --tree /path/to/an/older/checkout   # the same numbers for other code
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_some  # noqa: E402
from bench.helpers.pipe import PipeHelper, update_line  # noqa: E402

PEERS = [("10.250.1.2", 64512), ("10.250.2.2", 16550)]
CONFIG = """
agent: {{local_asn: 65000, router_id: 10.250.0.1, log_level: warning, state_dir: {state}}}
egresses:
  - {{id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1}}
  - {{id: ams, region: eu-west, jurisdiction: EU, cost_per_gb: 0.01, next_hop: 10.255.0.2}}
cloud_peers:
  - {{name: aws, address: 10.250.1.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}}
  - {{name: gcp, address: 10.250.2.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}}
core_routers:
  - {{name: core1, address: 10.250.0.2, asn: 65000}}
safety: {{max_prefix: {{limit: 10000000, action: warn}}}}
sets:
  prefix:
    aws-nets: ["44.0.0.0/8 le 24"]
policy:
  import:
    default: accept
    statements:
      - {{name: aws-direct, match: {{prefix: aws-nets, provider: aws}}, set: {{local_pref: 200}}, then: accept}}
  export: {{default: accept}}
"""
PAD = json.dumps({"exabgp": "5.0.0", "type": "keepalive", "pad": "x" * 3900}) + "\n"


class Helper(PipeHelper):
    def __init__(self, tree: Path, config: Path, python: str) -> None:
        super().__init__(config, python, tree, stdin_pipe_bytes=4096)  # one page: a write waits for the helper to read
        self.stop_padding = threading.Event()
        self.writes: list[tuple[float, float]] = []  # (start, duration) of each padding write
        self.blocked_since: float | None = None  # start of the write in progress

    def pad(self) -> None:
        """Every 10 ms one page: each write waits until the helper has read the one before."""
        while not self.stop_padding.is_set():
            t0 = time.perf_counter()
            self.blocked_since = t0
            try:
                self.write(PAD)
            except OSError:
                return
            self.blocked_since = None
            self.writes.append((t0, time.perf_counter() - t0))
            time.sleep(max(0.0, 0.01 - (time.perf_counter() - t0)))

    def settle(self, limit: float = 300.0) -> None:
        """Wait until the helper reads again (a long stall must not spill into the next step's window)."""
        deadline = time.perf_counter() + limit
        while (
            self.blocked_since is not None
            and time.perf_counter() - self.blocked_since > 0.05
            and time.perf_counter() < deadline
        ):
            time.sleep(0.05)

    def longest(self, since: float, until: float) -> float:
        return max((d for t, d in self.writes if since <= t <= until), default=0.0)


def ctl(tree: Path, python: str, sock: str, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [python, "-m", "bgpsteer", *args, "--socket", sock],
        cwd=tree,
        env=dict(os.environ, PYTHONPATH=str(tree)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=900,
        check=False,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=1_000_000, help="paths to load (two peers share the prefixes)")
    ap.add_argument("--tree", type=Path, default=ROOT, help="source tree whose bgpsteer to run")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument(
        "--big-config-mb", type=int, default=50, help="size of the rejected config file for 'reload (bad 50 MB file)'"
    )
    ap.add_argument("--only", nargs="*", default=None, help="run only the steps whose name contains one of these words")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-stall-"))
    cfg = tmp / "stall.yaml"
    cfg.write_text(CONFIG.format(state=tmp / "state"))
    sock = str(tmp / "state" / "control.sock")
    h = Helper(args.tree, cfg, args.python)
    try:
        h.write(
            "".join(
                json.dumps(
                    {
                        "exabgp": "5.0.0",
                        "type": "state",
                        "neighbor": {"address": {"local": "x", "peer": p}, "state": "up"},
                    }
                )
                + "\n"
                for p in ["10.250.0.2", *(p for p, _ in PEERS)]
            )
        )
        n = args.routes // len(PEERS)
        prefixes = [f"{44 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}.0/24" for i in range(n)]
        t0 = time.perf_counter()
        for peer, asn in PEERS:
            for i in range(0, n, 500):
                h.write(update_line(peer, asn, prefixes[i : i + 500], (asn,), 10) + "\n")
        # loaded once the helper has sent (and we acknowledged) the announcements of every path
        expected = 2 * ((n + 999) // 1000)
        h.wait_socket(sock)
        deadline = time.time() + 900
        while h.commands < expected:
            h.check(sock)  # alive, and none of our lines rejected: otherwise this would wait out the deadline
            if time.time() > deadline:
                fail(f"the helper sent {h.commands:,} of {expected:,} announcement lines within 900 s")
            time.sleep(1.0)
        time.sleep(2.0)
        received = h.check(sock).get("routes", {}).get("received", 0)
        need_some("paths loaded into the helper", received)
        print(
            f"loaded {2 * n:,} paths ({n:,} prefixes x {len(PEERS)} peers) in {time.perf_counter() - t0:.1f} s "
            f"into {args.tree}; helper pid {h.proc.pid}"
        )
        threading.Thread(target=h.pad, daemon=True).start()
        time.sleep(2.0)
        quiet = h.longest(time.perf_counter() - 1.5, time.perf_counter())
        bad = tmp / "bad.yaml"
        bad.write_text(
            cfg.read_text() + "# padding\n" * (args.big_config_mb * 1024 * 1024 // 10) + "agent: {local_asn: x}\n"
        )
        steps: list[tuple[str, object]] = [
            ("status", ("status",)),
            ("show routes (no limit)", ("show", "routes", "--limit", "10000000")),
            ("show routes --egress fra", ("show", "routes", "--egress", "fra")),
            ("explain 45.0.1.0/24", ("explain", "45.0.1.0/24")),
            ("drain fra", ("drain", "fra")),
            ("undrain fra", ("undrain", "fra")),
            ("reload (same config)", ("reload",)),
            ("SIGUSR1 state dump", signal.SIGUSR1),
            ("SIGHUP reload", signal.SIGHUP),
            (f"reload of a rejected {args.big_config_mb} MB file", "bad"),
        ]
        print(f"{'operation':<36} {'took s':>8} {'longest stdin wait ms':>22}   (quiet: {quiet * 1000:.0f} ms)")
        if args.only:
            steps = [(name, what) for name, what in steps if any(w in name for w in args.only)]
        rows = 0
        for name, what in steps:
            start = time.perf_counter()
            if isinstance(what, tuple):
                took = ctl(args.tree, args.python, sock, *what)
            elif isinstance(what, signal.Signals):
                os.kill(h.proc.pid, what)
                time.sleep(0.1)
                took = 0.0
            else:
                cfg.rename(tmp / "good.yaml")
                bad.rename(cfg)
                took = ctl(args.tree, args.python, sock, "reload")
                cfg.rename(bad)
                (tmp / "good.yaml").rename(cfg)
            time.sleep(3.0 if not isinstance(what, tuple) else 1.0)  # signals work after the call returns
            h.settle()
            h.alive()
            rows += 1
            print(f"{name:<36} {took:8.1f} {h.longest(start, time.perf_counter()) * 1000:22.0f}", flush=True)
            time.sleep(1.0)
        h.check(sock)
        need_some("operations measured", rows)
        print(f"helper RSS {h.rss_mb():,.0f} MB; commands answered {h.commands:,}")
    finally:
        h.stop_padding.set()
        h.stop()


if __name__ == "__main__":
    main()
