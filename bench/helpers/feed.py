"""An ExaBGP helper process for bench/announce.py: writes commands, waits for every ack.

    feed.py trivial COMMANDS_FILE TIMES_FILE
        the ceiling: prints pre-formatted batched commands, nothing else
    feed.py bgpsteer CONFIG UPDATES_FILE TIMES_FILE
        bgpsteer's own path: ExaBGP JSON UPDATE lines (as cloud peers' routes
        arrive) -> Agent (codec, RIB, policy, decision, encoder) -> ExaBGP

Both start when ExaBGP reports the core session up, and write to TIMES_FILE
the wall-clock times when they started, finished writing, and had every ack.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def wait_core_up() -> None:
    for line in sys.stdin:
        if '"state"' in line and '"up"' in line:
            return
    sys.exit("ExaBGP closed the pipe before the core session came up")


def drain_acks(expected: int) -> int:
    got = errors = 0
    for line in sys.stdin:
        word = line.strip()
        if word in ("done", "error"):
            got += 1
            errors += word == "error"
            if got >= expected:
                break
    return errors


def main() -> None:
    mode = sys.argv[1]
    out = sys.stdout.buffer
    if mode == "trivial":
        commands = Path(sys.argv[2]).read_bytes().splitlines(keepends=True)
        times_file = Path(sys.argv[3])
        wait_core_up()
        t0 = time.time()
        for c in commands:
            out.write(c)
        out.flush()
        t_written = time.time()
        errors = drain_acks(len(commands))
        sent = len(commands)
    else:
        from bgpsteer.config.loader import load
        from bgpsteer.runtime.agent import Agent

        cfg = load(sys.argv[2])
        updates = Path(sys.argv[3]).read_text().splitlines()
        times_file = Path(sys.argv[4])
        count = [0]

        def write(b: bytes) -> None:
            count[0] += 1
            out.write(b)

        agent = Agent(sys.argv[2], cfg, write)
        up = (
            '{"exabgp": "5.0.0", "type": "state", "neighbor": {"address": {"local": "L", "peer": "%s"}, '
            '"asn": {"local": 65000, "peer": 1}, "state": "up"}}'
        )
        wait_core_up()
        t0 = time.time()
        for p in cfg.cloud_peers:
            agent.on_line(up % p.address)
        for line in updates:
            agent.on_line(line)
        agent.flush()
        out.flush()
        # the agent's flow control sends more as ExaBGP acknowledges: hand it every ack until all is sent and answered
        for line in sys.stdin:
            word = line.strip()
            if word in ("done", "error"):
                agent.on_line(word)
                out.flush()
                if agent.ledger.idle and not agent.engine.pending():
                    break
        t_written = time.time()
        sent = count[0]
        errors = agent.acks_error
    times_file.write_text(
        json.dumps({"start": t0, "written": t_written, "acked": time.time(), "commands": sent, "errors": errors})
    )
    for _ in sys.stdin:  # keep draining until ExaBGP stops: it must never block on us
        pass


if __name__ == "__main__":
    main()
