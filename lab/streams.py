"""One sequenced UDP stream between two of a lab's namespaces (lab/udpstream.py at both ends), bounded in count
and time: started, waited for until it flows, read when done."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab.netlab import Lab, wait_for
from lab.udpstream import bound_mark, flowing_mark

SCRIPT = str(Path(__file__).resolve().parent / "udpstream.py")


def udp_stream(
    lb: Lab,
    python: str,
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    port: int,
    rate: float,
    seconds: float,
    name: str,
) -> Callable[[], dict[str, Any]]:
    """``sender``: (namespace, source address); ``receiver``: (namespace, address it listens on).  Returns once
    the receiver has its first datagram; call the result for the receiver's summary (udpstream.py)."""
    out = lb.path(f"{name}-{time.monotonic_ns()}.json")
    recv = lb.spawn(
        receiver[0],
        [python, SCRIPT, "recv", receiver[1], str(port), "--seconds", str(seconds + 4), "--out", str(out)],
        f"{name}-recv.log",
    )
    wait_for(f"the {name} receiver listening", bound_mark(out).exists, timeout=15, interval=0.05)
    args = ["send", receiver[1], str(port), "--rate", str(rate), "--seconds", str(seconds), "--source", sender[1]]
    send = lb.spawn(sender[0], [python, SCRIPT, *args], f"{name}-send.log")
    wait_for(f"the {name} stream flowing", flowing_mark(out).exists, timeout=15, interval=0.05)

    def result() -> dict[str, Any]:
        send.wait(seconds + 30)
        recv.wait(30)
        return dict(json.loads(out.read_text()))

    return result
