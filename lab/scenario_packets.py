"""Real packets in scenarios: UDP streams of every kind of the data-plane lab's traffic (lab/dataplane.py FLOWS)
from one node to another, and what each egress router forwarded per kind (its nftables counters,
lab/clab/dataplane/counters.nft); and the core's RIB when BIRD plays the core."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from lab.clab import Deployed
from lab.dataplane import FLOWS
from lab.netlab import nft_counters

UDPSTREAM = Path(__file__).resolve().parent / "udpstream.py"
UDP_KINDS = tuple(k for k, (_, proto, _, _) in FLOWS.items() if proto == "udp")


def bird_best(text: str) -> dict[str, str | None]:
    """`birdc show route all` -> prefix -> BGP next hop of its primary route (None: the primary is not a usable
    unicast route), for BGP routes only."""
    out: dict[str, str | None] = {}
    prefix, primary, usable = "", False, False
    for line in text.splitlines():
        m = re.match(r"^(\S+/\d+)\s+(\w+)\s+\[", line) or re.match(r"^\s+(\w+)\s+\[", line)
        if m:
            if line[0].isspace():
                kind = m.group(1)
            else:
                prefix, kind = m.group(1), m.group(2)
            primary, usable = " * " in line, kind == "unicast"
            continue
        if primary and prefix and line.strip().startswith("BGP.next_hop:"):
            out[prefix] = line.split(":", 1)[1].split()[0] if usable else None
    return out


class Packets:
    """Streams started by `traffic` steps, and the egress routers' counters."""

    def __init__(self, d: Deployed, routers: dict[str, str]) -> None:
        self.d = d
        self.routers = routers  # egress -> the node that forwards its traffic (holds its gateway address)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.last: dict[str, dict[str, int]] | None = None

    def start(self, source: str, sink: str, seconds: float, rate: float) -> None:
        seconds, rate = min(seconds, 600), min(rate, 2000)  # bounded in time and rate
        for kind in UDP_KINDS:
            dest, _, port, dscp = FLOWS[kind]
            out = self.d.lab.path(f"scenario-{kind}.json")
            recv = [sys.executable, str(UDPSTREAM), "recv", dest, str(port), "--seconds", str(seconds + 4)]
            self.procs.append(self.d.lab.spawn(sink, [*recv, "--out", str(out)], f"scenario-{kind}-recv.log"))
        for kind in UDP_KINDS:
            dest, _, port, dscp = FLOWS[kind]
            send = [sys.executable, str(UDPSTREAM), "send", dest, str(port), "--rate", str(rate)]
            send += ["--seconds", str(seconds), "--dscp", str(dscp)]
            self.procs.append(self.d.lab.spawn(source, send, f"scenario-{kind}-send.log"))

    def counts(self) -> dict[str, dict[str, int]]:
        """egress -> kind -> packets its router forwarded so far."""
        return {egress: nft_counters(self.d.lab.ns(node), "lab_counters") for egress, node in self.routers.items()}

    def check(self, forwarded: dict[str, str], never: dict[str, str]) -> list[str]:
        """forwarded: kind -> the only egress that carried it since the previous check; never: kind -> an egress
        that has carried none of it since the lab started."""
        now = self.counts()
        wrong = [
            f"{kind}: {now[e].get(kind, 0)} packet(s) via {e}, never expected"
            for kind, e in never.items()
            if now.get(e, {}).get(kind, 0)
        ]
        if forwarded:
            before, self.last = self.last, now
            if before is None:
                return [*wrong, "first packet reading"]
            delta = {e: {k: now[e].get(k, 0) - before[e].get(k, 0) for k in now[e]} for e in now}
            for kind, want in forwarded.items():
                via = sorted(e for e in delta if delta[e].get(kind, 0) > 0)
                if via != [want]:
                    wrong.append(f"{kind}: forwarded via {', '.join(via) or 'no egress'}, expected only {want}")
        return wrong
