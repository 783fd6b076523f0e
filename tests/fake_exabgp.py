"""An in-process ExaBGP for the tier between unit tests and real daemons (no root, no sockets).

It parses every command line with ExaBGP 5.0.15's own API parser (tests/contract/oracle.py),
keeps an adj-RIB-out per core neighbor built from what it accepted, and answers ``done`` or
``error`` as ExaBGP would.  Faults on demand: refuse given prefixes, lose or hold back acks,
send an extra ack, restart the helper (a new Agent on the same adj-RIB-out, which ExaBGP keeps
across helper restarts), and answer ``show adj-rib out extensive`` in ExaBGP's text format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from exabgp.reactor.api.command.limit import extract_neighbors

from bgpsteer.core.config import Config
from bgpsteer.noc.side import NOC
from bgpsteer.runtime.agent import Agent
from tests.contract.oracle import _API, accepts

RibKey = tuple[str, str, int]  # neighbor, prefix, path id


class Clock:
    """A clock the test moves (the agent's ``clock``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeExaBGP:
    def __init__(self, config: Config, clock: Callable[[], float] = lambda: 0.0, hold_acks: bool = False) -> None:
        self.config = config
        self.clock = clock
        self.rib: dict[
            RibKey, str
        ] = {}  # adj-RIB-out: what the core routers were sent (attributes as ExaBGP prints them)
        self.refuse: set[str] = set()  # prefixes whose lines ExaBGP answers 'error' (as for a value it cannot parse)
        self.lose_next_acks = 0  # acks swallowed
        self.hold_acks = hold_acks  # acks kept back until release()
        self.held: list[str] = []
        self.lines: list[str] = []  # every command line received, in order
        self.defer_dump = False  # keep the adj-RIB-out dump (and its ack) back until deliver_dump()
        self.deferred: list[str] | None = (
            None  # the dump held back, then every ack queued behind it (ExaBGP answers in order)
        )
        self.behind: list[str] = []
        # session FSM states, as 'show neighbor summary' reports them (ExaBGP replays no state to a restarted helper)
        self.sessions = {
            a: "established"
            for a in [*(p.address for p in config.cloud_peers), *(c.address for c in config.core_routers)]
        }
        self.errors = 0
        self.answer_summary = True
        self.agent = self._new_agent()

    # -- the helper ----------------------------------------------------------------------

    def _new_agent(self) -> Agent:
        self._buffer = b""
        return Agent("fake.yaml", self.config, self._receive, clock=self.clock, noc=NOC)

    def restart_helper(self, carry_acks: bool = False) -> Agent:
        """ExaBGP restarts a helper that died: same adj-RIB-out, no neighbor state replayed.  With ``carry_acks``,
        what it still owed the dead helper (acks held back) is delivered to the new one first, as ExaBGP does:
        it answers by process name, and runs what it had read before the helper died."""
        if not carry_acks:
            self.held.clear()
        self.agent = self._new_agent()
        return self.agent

    def feed(self, *messages: dict[str, Any] | str) -> None:
        for m in messages:
            self.agent.on_line(m if isinstance(m, str) else json.dumps(m))
        self.agent.flush()

    # -- ExaBGP's side of the pipe ---------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self._command(raw.decode())

    def _answer(self, word: str) -> None:
        if self.lose_next_acks and word in ("done", "error"):
            self.lose_next_acks -= 1
            return
        self._emit(word)

    def _emit(self, line: str) -> None:
        """Everything ExaBGP writes to the helper, in order: answer lines and acks alike are held back together."""
        if self.deferred is not None:
            self.behind.append(line)
        elif self.hold_acks:
            self.held.append(line)
        else:
            self.agent.on_line(line)

    def release(self, count: int | None = None) -> None:
        """Deliver what was held back (all, or up to the ``count``-th ack)."""
        while self.held:
            line = self.held.pop(0)
            self.agent.on_line(line)
            if line in ("done", "error") and count is not None:
                count -= 1
                if count <= 0:
                    return

    def deliver_dump(self) -> None:
        dump, self.deferred = self.deferred or [], None
        for d in dump:
            self._emit(d)
        self._answer("done")
        behind, self.behind = self.behind, []
        for line in behind:
            self._emit(line)

    def extra_ack(self) -> None:
        self.agent.on_line("done")

    def _command(self, line: str) -> None:
        self.lines.append(line)
        if line == "show neighbor summary" and not self.answer_summary:
            self._answer("done")  # an ExaBGP that answers without the table (none does today): the agent must not hang
            return
        if line == "show neighbor summary":
            self._emit("Peer            AS        up/down state       |     #sent     #recvd")
            for peer, fsm in sorted(self.sessions.items()):
                up = "0:05:00" if fsm == "established" else "down"
                self._emit(f"{peer:<15} {65000:<7} {up:>9} {fsm:<12} {0:>10} {0:>10}")
            self._answer("done")
            return
        if line == "show adj-rib out extensive":
            dump = []
            for (neighbor, prefix, pid), attrs in sorted(self.rib.items()):
                afi = "ipv6" if ":" in prefix else "ipv4"
                ip = ".".join(str((pid >> s) & 0xFF) for s in (24, 16, 8, 0))
                dump.append(
                    f"neighbor {neighbor} local-ip 10.250.0.1 local-as 65000 peer-as 65000 router-id 10.250.0.1 "
                    f"family-allowed in-open {afi} unicast {prefix} path-information {ip} {attrs}"
                )
            if self.defer_dump:
                self.deferred = dump
                return
            for d in dump:
                self._emit(d)
            self._answer("done")
            return
        if " announce route-refresh " in line or " teardown " in line or " announce eor " in line:
            self._answer("done")
            return
        ok = accepts(line) and not any(p in self.refuse for p in line.split(" nlri ", 1)[-1].split())
        if not ok:
            self.errors += 1
            self._answer("error")
            return
        descriptions, command = extract_neighbors(line)
        neighbor = descriptions[0][0].split()[1]
        withdraw = command.startswith("withdraw")
        for change in _API.api_attributes(command, None):
            prefix, pid, attrs = _held(change.extensive())
            if withdraw:
                self.rib.pop((neighbor, prefix, pid), None)
            else:
                self.rib[(neighbor, prefix, pid)] = attrs
        self._answer("done")

    # -- what the core was sent -------------------------------------------------------------

    def paths(self, neighbor: str | None = None) -> set[tuple[str, int]]:
        return {(p, pid) for (n, p, pid) in self.rib if neighbor is None or n == neighbor}


def _held(text: str) -> tuple[str, int, str]:
    """(prefix, path id, attributes) of one route as ExaBGP prints it."""
    if " path-information " not in text:  # towards a cloud session: no ADD-PATH
        prefix, _, attrs = text.partition(" ")
        return prefix, 0, attrs
    prefix, _, rest = text.partition(" path-information ")
    pid_text, _, attrs = rest.partition(" ")
    return prefix, sum(int(o) << (8 * (3 - i)) for i, o in enumerate(pid_text.split("."))), attrs


def state(peer: str, up: bool = True) -> dict[str, Any]:
    return {
        "exabgp": "5.0.0",
        "type": "state",
        "neighbor": {"address": {"local": "10.250.0.1", "peer": peer}, "state": "up" if up else "down"},
    }


def update(peer: str, prefixes: list[str], med: int = 0, asn: int = 64512) -> dict[str, Any]:
    attrs = {"origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [asn]}}, "med": med}
    return {
        "exabgp": "5.0.0",
        "type": "update",
        "neighbor": {
            "address": {"local": "10.250.0.1", "peer": peer},
            "message": {
                "update": {"attribute": attrs, "announce": {"ipv4 unicast": {peer: [{"nlri": p} for p in prefixes]}}}
            },
        },
    }


def withdraw(peer: str, prefixes: list[str]) -> dict[str, Any]:
    return {
        "exabgp": "5.0.0",
        "type": "update",
        "neighbor": {
            "address": {"local": "10.250.0.1", "peer": peer},
            "message": {"update": {"withdraw": {"ipv4 unicast": [{"nlri": p} for p in prefixes]}}},
        },
    }


def eor(peer: str) -> dict[str, Any]:
    return {
        "exabgp": "5.0.0",
        "type": "update",
        "neighbor": {
            "address": {"local": "10.250.0.1", "peer": peer},
            "message": {"eor": {"afi": "ipv4", "safi": "unicast"}},
        },
    }


def refresh_marker(peer: str, end: bool) -> dict[str, Any]:
    """Enhanced route refresh (RFC 7313) as ExaBGP 5.0.15 passes it on (`receive { refresh; }`): BoRR / EoRR."""
    return {
        "exabgp": "5.0.0",
        "type": "refresh",
        "neighbor": {
            "address": {"local": "10.250.0.1", "peer": peer},
            "direction": "receive",
            "route-refresh": {"afi": "ipv4", "safi": "unicast", "subtype": "end" if end else "begin"},
        },
    }
