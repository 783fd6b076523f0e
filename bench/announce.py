"""Announce benchmark: routes/s that bgpsteer gets into a real ExaBGP, next to the ceiling.

Runs ExaBGP 5.0.15 (this venv's) in a network namespace with an FRR core
router, twice, each time with a different helper process (bench/helpers/feed.py):

- ceiling:  a trivial helper printing pre-formatted batched commands: ExaBGP's
            own limit for taking in routes from a helper;
- bgpsteer: cloud peers' UPDATEs (ExaBGP JSON) through bgpsteer's Agent:
            codec, RIB, policy, decision, encoder, ack pairing.

The commands are the same in both runs (the trivial helper's were produced by
the same Agent offline).  Reported: time to write, time until ExaBGP acked every
command, time until FRR's RIB held every path.  Prints numbers, asserts nothing.

    sudo .venv/bin/python bench/announce.py --routes 30000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_root, need_some  # noqa: E402
from bench.ingest import lines  # noqa: E402
from bgpsteer.config.loader import load  # noqa: E402
from bgpsteer.runtime.agent import Agent  # noqa: E402
from lab.netlab import Frr, Lab, lab, wait_for  # noqa: E402
from lab.topology import FRR  # noqa: E402

FEED = ROOT / "bench" / "helpers" / "feed.py"
AZURE = {
    "name": "azure-er-fra",
    "address": "10.250.3.2",
    "local_address": "10.250.0.1",
    "asn": 8075,
    "egress": "fra",
    "provider": "azure",
    "region": "westeurope",
}


def bench_config(workdir: Path) -> Path:
    """The lab's config, edited as YAML: every cloud session on the core link, a third (Azure) peer, no max-prefix
    stop, and no graceful restart (each run must start from an empty core: with it FRR keeps the last run's paths
    for the restart time)."""
    doc = yaml.safe_load((ROOT / "lab" / "lab.yaml").read_text())
    doc["safety"]["max_prefix"] = {"limit": 10_000_000, "action": "warn"}
    for peer in doc["cloud_peers"]:
        peer["local_address"] = "10.250.0.1"
    doc["cloud_peers"].append(AZURE)
    doc["agent"]["state_dir"] = str(workdir / "state")
    doc["agent"]["graceful_restart"] = 0
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def received(frr: Frr) -> int:
    data = frr.vtysh("show bgp ipv4 unicast summary json")
    return int(data.get("peers", {}).get("10.250.0.1", {}).get("pfxRcd", 0))


def run_once(
    lb: Lab, frr: Frr, name: str, config: Path, helper_args: list[str], expected: int, timeout: float
) -> dict[str, float]:
    confdir = lb.path(f"exabgp-{name}")
    confdir.mkdir()
    times = lb.path(f"times-{name}.json")
    command = " ".join([sys.executable, str(FEED), *helper_args, str(times)])
    subprocess.run(
        [sys.executable, "-m", "bgpsteer", "exabgp-config", str(config), "-o", str(confdir), "--command", command],
        check=True,
        capture_output=True,
    )
    env = dict(line.split("=", 1) for line in (confdir / "exabgp.env").read_text().split())
    env["exabgp_log_destination"] = "stderr"
    proc = lb.spawn(
        "rs", [str(Path(sys.executable).parent / "exabgp"), str(confdir / "exabgp.conf")], f"exabgp-{name}.log", env=env
    )
    try:
        wait_for(
            "core session", lambda: lb.alive(proc, f"exabgp-{name}.log") and frr.established("10.250.0.1"), timeout=60
        )
        wait_for(f"FRR holding {expected} paths", lambda: received(frr) >= expected, timeout=timeout, interval=0.05)
        t_rib = time.time()
        t = json.loads(wait_for("helper times", lambda: times.exists() and times.read_text(), timeout=timeout))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    wait_for("FRR to drop the session's paths", lambda: received(frr) == 0, timeout=60)
    return {
        "written": t["written"] - t["start"],
        "acked": t["acked"] - t["start"],
        "rib": t_rib - t["start"],
        "commands": t["commands"],
        "errors": t["errors"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes", type=int, default=30_000, help="cloud routes (3 peers share the prefixes)")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    need_root()
    with lab() as lb:
        lb.link("rs", "10.250.0.1/30", "core", "10.250.0.2/30")
        frr = lb.start_frr("core", FRR)
        config = bench_config(lb.workdir)
        updates = lines(args.routes, v6=False)
        (lb.workdir / "updates.jsonl").write_text("\n".join(updates) + "\n")
        commands: list[bytes] = []
        agent = Agent(str(config), load(config), commands.append)
        up = (
            '{"exabgp": "5.0.0", "type": "state", "neighbor": {"address": {"local": "L", "peer": "%s"}, '
            '"asn": {"local": 65000, "peer": 1}, "state": "up"}}'
        )
        for p in agent.engine.config.cloud_peers:
            agent.on_line(up % p.address)
        for line in updates:
            agent.on_line(line)
        agent.flush()
        paths = agent.engine.stats.announcements
        need_some("paths the agent announces for the workload", paths)
        (lb.workdir / "commands.txt").write_bytes(b"".join(commands))
        print(
            f"workload             {args.routes:,} cloud routes -> {paths:,} paths to the core "
            f"({len(agent.engine.rib):,} prefixes x up to 2 egresses, ADD-PATH), {len(commands):,} batched command "
            "lines"
        )
        results = {
            "ceiling": run_once(
                lb, frr, "ceiling", config, ["trivial", str(lb.workdir / "commands.txt")], paths, args.timeout
            ),
            "bgpsteer": run_once(
                lb,
                frr,
                "bgpsteer",
                config,
                ["bgpsteer", str(config), str(lb.workdir / "updates.jsonl")],
                paths,
                args.timeout,
            ),
        }
    print(f"{'helper':10} {'written s':>10} {'acked s':>9} {'in FRR s':>9} {'paths/s into FRR':>17} {'errors':>7}")
    for name, r in results.items():
        print(
            f"{name:10} {r['written']:10.2f} {r['acked']:9.2f} {r['rib']:9.2f} {paths / r['rib']:17,.0f} "
            f"{r['errors']:7.0f}"
        )
    for name, r in results.items():
        if r["errors"]:
            fail(
                f"ExaBGP refused {r['errors']:.0f} of the {name} helper's commands: the rates above are not comparable"
            )
    ratio = results["ceiling"]["rib"] / results["bgpsteer"]["rib"]
    print(f"bgpsteer reaches {ratio:.0%} of the trivial helper's rate (ExaBGP {version('exabgp')}, reactor speed 0.1)")


if __name__ == "__main__":
    main()
