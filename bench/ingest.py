"""Ingest benchmark: ExaBGP JSON lines -> codec -> RIB -> import policy -> decision.

Generates UPDATE lines shaped like ExaBGP 5.0.15's (see tests/contract/captures)
for three cloud peers: IPv4 and IPv6, overlapping prefixes, attribute sets
shared by batches of routes as cloud gateways send them.  Prints routes/s and
memory per route; asserts nothing.  Each timed run is a fresh worker process fed the same lines from a file;
runs alternate: without and with the flight recorder (runtime/recorder.py) writing into a temporary directory,
so the recorder's cost is measured on the same machine state, and with ``--tree OLD`` the same lines through an
older checkout's agent, so the ratio of the two trees is measured in one run (only the ratio means anything on a
noisy machine).

    python bench/ingest.py --routes 1000000
    python bench/ingest.py --routes 500000 --repeat 2 --tree /path/to/an/older/checkout
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_some  # noqa: E402

if __name__ == "__main__" and os.environ.get("BENCH_INGEST_TREE"):
    # a worker measuring another tree imports its bgpsteer (the bench's own helpers are this tree's, loaded above)
    sys.path.insert(0, os.environ["BENCH_INGEST_TREE"])

CONFIG = ROOT / "lab" / "lab.yaml"
PEERS = [("10.250.1.2", 64512), ("10.250.2.2", 16550), ("10.250.3.2", 8075)]


def lines(total: int, per_update: int = 500, v6: bool = True) -> list[str]:
    """Three peers share the prefix space: each prefix is announced by up to three peers."""
    out = []
    per_peer = total // 3
    n_v6 = per_peer // 5 if v6 else 0  # a fifth IPv6
    for peer_index, (peer, asn) in enumerate(PEERS):
        made = 0
        seq = 0
        while made < per_peer:
            count = min(per_update, per_peer - made)
            if made >= per_peer - n_v6:
                nlri = [  # canonical text (fd05:0::/48 is fd05::/48)
                    {"nlri": str(ipaddress.IPv6Network(f"fd{(i >> 16) & 0xFF:02x}:{i & 0xFFFF:x}::/48"))}
                    for i in range(made, made + count)
                ]
                family, nh = "ipv6 unicast", "fd00:250:1::2"
            else:
                nlri = [
                    {"nlri": f"{10 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}.0/24"} for i in range(made, made + count)
                ]
                family, nh = "ipv4 unicast", peer
            attrs = {
                "origin": "igp",
                "as-path": {"0": {"element": "as-sequence", "value": [asn, 65100 + seq % 50]}},
                "med": seq % 7 + peer_index,
                "community": [[asn, 100 + seq % 10]],
            }
            msg = {
                "exabgp": "5.0.0",
                "time": 0.0,
                "host": "bench",
                "pid": 1,
                "ppid": 1,
                "counter": seq,
                "type": "update",
                "neighbor": {
                    "address": {"local": "10.250.1.1", "peer": peer},
                    "asn": {"local": 65000, "peer": asn},
                    "direction": "receive",
                    "message": {"update": {"attribute": attrs, "announce": {family: {nh: nlri}}}},
                },
            }
            out.append(json.dumps(msg))
            made += count
            seq += 1
    return out


def agent_type() -> Any:
    """The Agent of whichever tree is imported (it moved into runtime/ after the first wave)."""
    try:
        from bgpsteer.runtime.agent import Agent
    except ImportError:
        from bgpsteer.agent import Agent  # type: ignore[import-not-found,no-redef]
    return Agent


def bench_config() -> Any:
    """The lab's config with IPv6 next-hops and a third (Azure) peer: the lab config is IPv4-only."""
    from dataclasses import replace

    from bgpsteer.config.loader import load
    from bgpsteer.core.model import CloudPeer

    cfg = load(CONFIG)
    return replace(
        cfg,
        egresses=tuple(replace(e, next_hop6=f"fd00:255::{e.path_id}") for e in cfg.egresses),
        cloud_peers=(
            *tuple(replace(p, families=("ipv4", "ipv6")) for p in cfg.cloud_peers),
            CloudPeer("azure-fra", "10.250.3.2", 8075, "fra", "azure", "westeurope", ("ipv4", "ipv6")),
        ),
        core_routers=tuple(replace(c, families=("ipv4", "ipv6")) for c in cfg.core_routers),
        safety=replace(cfg.safety, default_max_prefix=None),
    )


def worker(data_file: str, record: bool, memory: bool) -> dict[str, Any]:
    """One timed run in this process: every line into a fresh agent, acks answered at once as a quick ExaBGP would
    (the agent's flow control waits for them)."""
    try:
        from bgpsteer.runtime.serve import tune_gc

        tune_gc()  # as 'bgpsteer run' does
    except ImportError:
        pass
    cfg = bench_config()
    data = Path(data_file).read_text().splitlines()
    sent = [0, 0]  # bytes, lines
    owed = [0]

    def out(b: bytes) -> None:
        sent[0] += len(b)
        sent[1] += 1
        owed[0] += 1

    agent = agent_type()(str(CONFIG), cfg, out, clock=lambda: 0.0)
    tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-bench-rec-"))
    if record:
        from bgpsteer.runtime.recorder import Recorder

        agent.recorder = Recorder(tmp, max_bytes=1 << 40)
    if memory:  # not timed: tracemalloc slows allocation several-fold
        gc.collect()
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    gc.collect()
    t0 = time.perf_counter()
    for line in data:
        agent.on_line(line)
        while owed[0]:
            owed[0] -= 1
            agent.on_line("done")
    agent.flush()
    seconds = time.perf_counter() - t0
    held = 0
    if memory:
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    recorded = [0, 0]
    if record:
        agent.recorder.close()  # waits for the last compressions (not timed: they run on the other core)
        recorded = [sum(p.stat().st_size for p in tmp.iterdir()), agent.recorder.records]
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "seconds": seconds,
        "routes": agent.engine.stats.routes_received,
        "prefixes": len(agent.engine.rib),
        "malformed": agent.malformed,
        "announcements": agent.engine.stats.announcements,
        "command_bytes": sent[0],
        "recorded_bytes": recorded[0],
        "records": recorded[1],
        "memory": held,
        "package": str(Path(sys.modules["bgpsteer"].__file__ or "").parent.parent),
    }


def run(tree: Path, data_file: Path, record: bool = False, memory: bool = False) -> dict[str, Any]:
    """A worker process on ``tree``; its one JSON line of results, or the bench fails with the worker's error."""
    env = dict(os.environ, BENCH_INGEST_TREE=str(tree) if tree != ROOT else "")
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", str(data_file)]
    argv += ["--record"] * record + ["--memory"] * memory
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        fail(f"the worker on {tree} exited {done.returncode}: {done.stderr.strip()[-600:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    need_some(f"routes ingested by {tree}", result["routes"])
    if Path(result["package"]).resolve() != tree.resolve():
        fail(f"the worker meant for {tree} imported bgpsteer from {result['package']}")
    if result["malformed"]:
        fail(f"the agent of {tree} rejected {result['malformed']:,} of the bench's lines as malformed")
    return result


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported (this machine is noisy)")
    ap.add_argument("--tree", type=Path, default=None, help="an older checkout: its agent alternates with this one's")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.record, args.memory)))
        return
    if args.tree is not None and not (args.tree / "bgpsteer").is_dir():
        fail(f"--tree {args.tree}: no bgpsteer package there")
    tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-bench-ingest-"))
    try:
        data_file = tmp / "updates.jsonl"
        data = lines(args.routes)
        data_file.write_text("\n".join(data) + "\n")
        kinds: list[tuple[str, Path, bool]] = [("HEAD", ROOT, False), ("HEAD + recorder", ROOT, True)]
        if args.tree is not None:
            kinds.append((f"--tree {args.tree}", args.tree.resolve(), False))
        times: dict[str, list[float]] = {name: [] for name, _, _ in kinds}
        results: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeat):
            for name, tree, record in kinds:
                results[name] = run(tree, data_file, record)
                times[name].append(results[name]["seconds"])
        head = results["HEAD"]
        routes = head["routes"]
        print(f"routes ingested      {routes:,} ({len(data):,} UPDATE lines, {head['prefixes']:,} prefixes, 3 peers)")
        base = median(times["HEAD"])
        for name, _, _ in kinds:
            got = sorted(times[name])
            n = results[name]["routes"]
            print(
                f"{name:<20} {n / median(got):,.0f} routes/s median of {args.repeat} runs (best {n / got[0]:,.0f}, "
                f"worst {n / got[-1]:,.0f}; one core; time x{median(got) / base:.3f} of HEAD's)"
            )
        rec = results["HEAD + recorder"]
        print(
            f"recording            {rec['recorded_bytes'] / 1e6:.1f} MB on disk = {rec['recorded_bytes'] / routes:.1f} "
            f"bytes per route, {rec['records']:,} records"
        )
        print(
            f"announcements        {head['announcements']:,} path announcements, "
            f"{head['command_bytes'] / 1e6:.1f} MB of commands"
        )
        held = run(ROOT, data_file, memory=True)["memory"]
        print(f"agent memory         {held / 1e6:,.1f} MB = {held / routes:,.0f} bytes per route")
        print(
            "reference            ExaBGP emits at most ~66k routes/s to its helper and keeps ~3 KB per route "
            "(docs/performance.md)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
