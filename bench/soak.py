"""Soak benchmark: a months-long run, compressed.  Memory must be a function of the RIB, not of history.

Runs the real helper (``python -m bgpsteer run``) and plays ExaBGP on its pipe:
answers every command with ``done``, and feeds it two cloud peers holding a
steady RIB (``--prefixes`` per peer) under heavy churn:

- UPDATEs of 50 prefixes whose MED and second AS-path hop change every time
  (a new attribute set per UPDATE, as a flapping gateway metric makes);
- withdraw / re-announce cycles of a slice of the table;
- peer flaps (session down, up, table sent again);
- probe flaps (external measurements pushed over the control socket: an
  egress fails, then recovers);
- NOC commands over the control socket (status, show routes, explain).

Every ``--every`` seconds it prints the helper's RSS, the ingest rate, and the
decision latency (p50/p99): the time from writing a marker UPDATE to reading
the helper's announcement of that prefix, measured end to end on the pipe.
At the end: the plateau (median RSS after warm-up) and the largest deviation
from it.  Asserts nothing.

    python bench/soak.py                     # >= 2 million UPDATEs (about 15 minutes here)
    python bench/soak.py --updates 200000    # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_some  # noqa: E402
from bench.helpers.pipe import PipeHelper, update_line  # noqa: E402
from bgpsteer.core.model import AgentSettings, default  # noqa: E402
from bgpsteer.noc.client import CtlError, call  # noqa: E402

PEERS = [("10.250.1.2", 64512, "fra"), ("10.250.2.2", 16550, "ams")]
CORE = "10.250.0.2"
PER_UPDATE = 50
MARKER_NET = "45.{}.{}.0/24"  # marker prefixes: announced once each, timed until the helper announces them

CONFIG = """
agent:
  local_asn: 65000
  router_id: 10.250.0.1
  log_level: warning
  state_dir: {state}
  record_max_bytes: {record}
safety:
  max_prefix: {{limit: 100000, action: stop}}
egresses:
  - {{id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1,
      probe: {{type: external, targets: [t1], interval: 3600}}, health: {{rise: 1, fall: 1, hold_down: 0}}}}
  - {{id: ams, region: eu-west, jurisdiction: EU, cost_per_gb: 0.01, next_hop: 10.255.0.2,
      probe: {{type: external, targets: [t1], interval: 3600}}, health: {{rise: 1, fall: 1, hold_down: 0}}}}
cloud_peers:
  - {{name: aws, address: 10.250.1.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}}
  - {{name: gcp, address: 10.250.2.2, asn: 16550, egress: ams, provider: gcp, region: europe-west4}}
core_routers:
  - {{name: core1, address: 10.250.0.2, asn: 65000}}
sets:
  prefix:
    aws-nets: ["44.0.0.0/9 le 24"]
policy:
  import:
    default: accept
    statements:
      - name: aws-direct
        match: {{prefix: aws-nets, provider: aws}}
        set: {{local_pref: 200}}
        then: accept
  export:
    default: accept
    statements:
      - name: tag
        set: {{community: {{add: ["65000:100"]}}}}
        then: accept
"""


def state(peer: str, asn: int, up: bool) -> str:
    return json.dumps(
        {
            "exabgp": "5.0.0",
            "time": time.time(),
            "type": "state",
            "neighbor": {
                "address": {"local": "10.250.0.1", "peer": peer},
                "asn": {"local": 65000, "peer": asn},
                "state": "up" if up else "down",
                "reason": "" if up else "soak flap",
            },
        }
    )


def update(peer: str, asn: int, seq: int, prefixes: list[str], withdraw: bool = False) -> str:
    """A new attribute set every time: MED and the second AS-path hop follow the sequence number."""
    return update_line(peer, asn, prefixes, (asn, 65100 + seq % 60000), seq % 1_000_000, withdraw)


def table(n: int) -> list[str]:
    return [f"44.{(i >> 8) & 0x7F}.{i & 0xFF}.0/24" for i in range(n)]


class Helper(PipeHelper):
    """The helper, with marker prefixes timed from the UPDATE written to the announcement read."""

    def __init__(self, config: Path) -> None:
        self.markers: dict[str, float] = {}  # marker prefix -> time written
        self.latencies: list[float] = []
        self.answered_markers = 0
        super().__init__(config, sys.executable, ROOT, on_commands=self._markers)

    def writelines(self, lines: list[str]) -> None:
        self.write("\n".join(lines) + "\n")

    def mark(self, prefix: str, line: str) -> None:
        with self.lock:
            self.markers[prefix] = time.perf_counter()
        self.write(line + "\n")

    def _markers(self, lines: list[bytes], now: float) -> None:
        with self.lock:
            for raw in lines:
                if b" 45." in raw and b" announce " in raw:
                    for word in raw.decode().split(" nlri ", 1)[-1].split():
                        t = self.markers.pop(word, None)
                        if t is not None:
                            self.latencies.append(now - t)
                            self.answered_markers += 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--updates", type=int, default=2_000_000, help="churn UPDATEs to send (each of 50 prefixes)")
    ap.add_argument("--prefixes", type=int, default=5000, help="steady RIB per cloud peer")
    ap.add_argument("--every", type=float, default=15.0, help="seconds between report rows")
    ap.add_argument("--warmup", type=float, default=0.25, help="fraction of the run counted as warm-up")
    ap.add_argument("--rate", type=float, default=0.0, help="UPDATEs/s to offer (0: as fast as the helper takes them)")
    ap.add_argument(
        "--no-recorder", action="store_true", help="run with the flight recorder off (agent.record_max_bytes: 0)"
    )
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-soak-"))
    cfg = tmp / "soak.yaml"
    record = 0 if args.no_recorder else default(AgentSettings, "record_max_bytes")
    cfg.write_text(CONFIG.format(state=tmp / "state", record=record))
    sock = str(tmp / "state" / "control.sock")
    helper = Helper(cfg)
    rows: list[tuple[float, int, float]] = []
    try:
        helper.writelines([state(CORE, 65000, True)] + [state(p, asn, True) for p, asn, _ in PEERS])
        prefixes = table(args.prefixes)
        seq = 0
        for p, asn, _ in PEERS:
            for i in range(0, len(prefixes), PER_UPDATE):
                seq += 1
                helper.writelines([update(p, asn, seq, prefixes[i : i + PER_UPDATE])])
        helper.wait_socket(sock)
        need_some("steady-RIB routes taken in by the helper", helper.check(sock).get("routes", {}).get("received", 0))
        print(
            f"helper pid {helper.proc.pid}; steady RIB {args.prefixes:,} prefixes x {len(PEERS)} peers; "
            f"{args.updates:,} churn UPDATEs of {PER_UPDATE} prefixes"
        )
        print(f"{'seconds':>8} {'UPDATEs':>10} {'RSS MB':>8} {'routes/s':>10} {'p50 ms':>8} {'p99 ms':>8}  events")
        t0 = last = time.perf_counter()
        sent_at_last = 0
        sent = 0
        marker = 0
        events: list[str] = []
        slices = max(1, len(prefixes) // PER_UPDATE)
        noc_errors = 0

        def report(now: float) -> None:
            nonlocal events, last, sent_at_last
            with helper.lock:
                lat, helper.latencies = helper.latencies, []
            helper.check(sock)  # alive, and every line taken in: a row about rejected lines would be no row
            rss = helper.rss_mb()
            rate = (sent - sent_at_last) * PER_UPDATE / (now - last)
            rows.append((now - t0, sent, rss))
            print(
                f"{now - t0:8.0f} {sent:10,} {rss:8.1f} {rate:10,.0f} {pct(lat, 0.5):8.1f} {pct(lat, 0.99):8.1f}  "
                f"{', '.join(sorted(set(events)))}",
                flush=True,
            )
            events = []
            last, sent_at_last = now, sent

        while sent < args.updates:
            batch = []
            for _ in range(20):
                p, asn, _ = PEERS[sent % len(PEERS)]
                seq += 1
                k = (seq // len(PEERS)) % slices
                batch.append(update(p, asn, seq, prefixes[k * PER_UPDATE : (k + 1) * PER_UPDATE]))
                sent += 1
            helper.writelines(batch)
            if sent % 2000 < 20:  # a timed marker: a new prefix, announced once
                marker += 1
                m = MARKER_NET.format((marker >> 8) & 0xFF, marker & 0xFF)
                helper.mark(m, update(PEERS[0][0], PEERS[0][1], seq, [m]))
                if marker % 50 == 0:  # markers come and go: the RIB stays steady
                    helper.writelines(
                        [
                            update(
                                PEERS[0][0],
                                PEERS[0][1],
                                seq,
                                [MARKER_NET.format((i >> 8) & 0xFF, i & 0xFF) for i in range(marker - 49, marker + 1)],
                                withdraw=True,
                            )
                        ]
                    )
            if sent % 50_000 < 20:  # withdraw and re-announce a tenth of one peer's table
                p, asn, _ = PEERS[1]
                cut = prefixes[: len(prefixes) // 10]
                helper.writelines(
                    [
                        update(p, asn, seq, cut[i : i + PER_UPDATE], withdraw=True)
                        for i in range(0, len(cut), PER_UPDATE)
                    ]
                )
                helper.writelines(
                    [update(p, asn, seq, cut[i : i + PER_UPDATE]) for i in range(0, len(cut), PER_UPDATE)]
                )
                events.append("withdraw/re-announce")
            if sent % 200_000 < 20:  # a peer flap: session down, up, table again
                p, asn, _ = PEERS[0]
                helper.writelines([state(p, asn, False), state(p, asn, True)])
                helper.writelines(
                    [update(p, asn, seq, prefixes[i : i + PER_UPDATE]) for i in range(0, len(prefixes), PER_UPDATE)]
                )
                events.append("peer flap")
            if sent % 100_000 < 20:  # probe flap and NOC commands over the control socket
                try:
                    call(sock, "measure", egress="ams", samples=[{"target": "t1", "ok": False}])
                    call(sock, "measure", egress="ams", samples=[{"target": "t1", "ok": True, "rtt_ms": 5.0}])
                    call(sock, "status")
                    call(sock, "routes", limit=100)
                    call(sock, "explain", target="44.0.1.0/24")
                    events.append("probe flap + NOC")
                except CtlError as exc:
                    noc_errors += 1
                    events.append(f"NOC error: {exc}")
            if args.rate:
                ahead = sent / args.rate - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)
            now = time.perf_counter()
            if now - last >= args.every:
                report(now)
        # the last row once the helper has caught up: a final marker announced means every line before it was read
        marker += 1
        final = MARKER_NET.format((marker >> 8) & 0xFF, marker & 0xFF)
        helper.mark(final, update(PEERS[0][0], PEERS[0][1], seq, [final]))
        deadline = time.perf_counter() + 300
        while final in helper.markers:
            helper.alive()
            if time.perf_counter() > deadline:
                fail("the helper did not announce the final marker prefix within 300 s of the last UPDATE")
            time.sleep(0.05)
        report(time.perf_counter())
        status = helper.check(sock)
        need_some("report rows (lower --every, or send more --updates)", rows)
        need_some("latency markers announced by the helper", helper.answered_markers)
        warm = [r for r in rows if r[1] >= args.warmup * args.updates]
        if warm:
            plateau = statistics.median(r[2] for r in warm)
            worst = max(abs(r[2] - plateau) / plateau for r in warm)
            print(
                f"after warm-up ({len(warm)} rows): RSS plateau {plateau:.1f} MB, largest deviation {worst * 100:.1f}% "
                f"(goal: within 10%); min {min(r[2] for r in warm):.1f}, max {max(r[2] for r in warm):.1f} MB"
            )
        print(
            f"commands answered {helper.commands:,}; routes received {status['routes']['received']:,}; "
            f"NOC errors {noc_errors}"
        )
    finally:
        helper.stop()


if __name__ == "__main__":
    main()
