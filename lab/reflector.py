"""UDP echo reflector with injectable delay, jitter and loss (tc netem is not available here).

Runs inside a lab namespace; answers only the datagrams it receives, so it
sends nothing on its own.  The impairment is read from a JSON control file
whenever that file changes: {"delay_ms": 80, "jitter_ms": 3, "loss": 0.01,
"spike_ms": 25, "spike": 0.01} (jitter is exponential with that mean; a spike
adds spike_ms to that share of datagrams).

    python lab/reflector.py --listen 10.250.2.2:7 --control /tmp/.../reflector-gcp.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
from pathlib import Path


class Reflector(asyncio.DatagramProtocol):
    def __init__(self, control: Path) -> None:
        self.control = control
        self.mtime = 0.0
        self.delay_ms = self.jitter_ms = self.loss = self.spike_ms = self.spike = 0.0
        self.rng = random.Random()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def _reload(self) -> None:
        try:
            mtime = os.stat(self.control).st_mtime
            if mtime != self.mtime:
                cfg = json.loads(self.control.read_text() or "{}")
                self.delay_ms = float(cfg.get("delay_ms", 0))
                self.jitter_ms = float(cfg.get("jitter_ms", 0))
                self.loss = float(cfg.get("loss", 0))
                self.spike_ms = float(cfg.get("spike_ms", 0))  # a rare extra delay ...
                self.spike = float(cfg.get("spike", 0))  # ... on this share of datagrams
                self.mtime = mtime
        except (OSError, ValueError):
            pass  # keep the last good impairment

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._reload()
        if self.rng.random() < self.loss:
            return
        delay = self.delay_ms + (self.rng.expovariate(1 / self.jitter_ms) if self.jitter_ms > 0 else 0.0)
        if self.rng.random() < self.spike:
            delay += self.spike_ms
        asyncio.get_running_loop().call_later(delay / 1000, self.transport.sendto, data, addr)  # type: ignore[attr-defined]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--control", required=True, type=Path)
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: Reflector(args.control), local_addr=(host, int(port))
    )
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
