"""Ingest benchmark: ExaBGP JSON lines -> codec -> RIB -> import policy -> decision.

Generates UPDATE lines shaped like ExaBGP 5.0.15's (see tests/contract/captures)
for three cloud peers: IPv4 and IPv6, overlapping prefixes, attribute sets
shared by batches of routes as cloud gateways send them.  Prints routes/s and
memory per route; asserts nothing.  Each timed run is made twice, without and with the flight recorder
(runtime/recorder.py) writing into a temporary directory, alternating, so the recorder's cost is measured on the
same machine state; the recording's size per route follows.

    python bench/ingest.py --routes 1000000
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bgpsteer.config.loader import load
from bgpsteer.runtime.agent import Agent
from bgpsteer.runtime.recorder import Recorder
from bgpsteer.runtime.serve import tune_gc

CONFIG = Path(__file__).resolve().parent.parent / "lab" / "lab.yaml"
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs; the median is reported (this machine is noisy)")
    args = ap.parse_args()
    cfg = load(CONFIG)
    # IPv6 needs egress next_hop6; the lab config is IPv4-only, so add them here
    from dataclasses import replace

    from bgpsteer.core.model import CloudPeer

    cfg = replace(
        cfg,
        egresses=tuple(replace(e, next_hop6=f"fd00:255::{e.path_id}") for e in cfg.egresses),
        cloud_peers=(
            *tuple(replace(p, families=("ipv4", "ipv6")) for p in cfg.cloud_peers),
            CloudPeer("azure-fra", "10.250.3.2", 8075, "fra", "azure", "westeurope", ("ipv4", "ipv6")),
        ),
        core_routers=tuple(replace(c, families=("ipv4", "ipv6")) for c in cfg.core_routers),
        safety=replace(cfg.safety, default_max_prefix=None),
    )
    data = lines(args.routes)
    tune_gc()  # as 'bgpsteer run' does
    sent = [0]
    owed = [0]  # acks ExaBGP owes: answered at once, as a quick ExaBGP would (the agent's flow control waits for them)

    def out(b: bytes) -> None:
        sent[0] += len(b)
        owed[0] += 1

    def feed(agent: Agent, line: str) -> None:
        agent.on_line(line)
        while owed[0]:
            owed[0] -= 1
            agent.on_line("done")

    # timed runs without tracemalloc (it slows allocation several-fold); a fresh agent each time
    times: dict[bool, list[float]] = {False: [], True: []}
    recorded = [0, 0]  # bytes on disk, records
    for _ in range(args.repeat):
        for record in (False, True):
            sent[0] = 0
            agent = Agent(str(CONFIG), cfg, out, clock=lambda: 0.0)
            tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-bench-rec-"))
            if record:
                agent.recorder = Recorder(tmp, max_bytes=1 << 40)
            gc.collect()
            t0 = time.perf_counter()
            for line in data:
                feed(agent, line)
            agent.flush()
            times[record].append(time.perf_counter() - t0)
            if agent.recorder is not None:
                agent.recorder.close()  # waits for the last compressions (not timed: they run on the other core)
                recorded[:] = [sum(p.stat().st_size for p in tmp.iterdir()), agent.recorder.records]
            shutil.rmtree(tmp, ignore_errors=True)
            routes = agent.engine.stats.routes_received
            prefixes = len(agent.engine.rib)
            if not record:
                del agent
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(f"routes ingested      {routes:,} ({len(data):,} UPDATE lines, {prefixes:,} prefixes, 3 peers)")
    off = sorted(times[False])
    print(
        f"ingest rate          {routes / median[False]:,.0f} routes/s median of {args.repeat} runs "
        f"(best {routes / off[0]:,.0f}, worst {routes / off[-1]:,.0f}; one core)"
    )
    print(
        f"with flight recorder {routes / median[True]:,.0f} routes/s median "
        f"({(median[True] / median[False] - 1) * 100:+.1f} % time); recording {recorded[0] / 1e6:.1f} MB on disk "
        f"= {recorded[0] / routes:.1f} bytes per route, {recorded[1]:,} records"
    )
    print(
        f"announcements        {agent.engine.stats.announcements:,} path announcements, {sent[0] / 1e6:.1f} MB of "
        "commands"
    )
    # memory: rebuild the same state under tracemalloc, counting only what the agent keeps
    del agent
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    agent = Agent(str(CONFIG), cfg, out, clock=lambda: 0.0)
    for line in data:
        feed(agent, line)
    agent.flush()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    print(f"agent memory         {held / 1e6:,.1f} MB = {held / routes:,.0f} bytes per route")
    print("reference            ExaBGP emits at most ~66k routes/s to its helper and keeps ~3 KB per route (DESIGN.md)")


if __name__ == "__main__":
    main()
