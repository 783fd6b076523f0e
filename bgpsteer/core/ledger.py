"""What ExaBGP has accepted: every command paired with its ack, refusals remembered.

ExaBGP answers each command line with one ``done`` or ``error``, in order for the
commands it runs asynchronously (announce/withdraw attributes, route-refresh and
EOR to an established peer, show adj-rib).  A few commands are answered at once
(teardown; a route-refresh or EOR for a peer that is not up): their ack can
overtake the acks still owed for earlier lines, so the agent sends those only
when nothing is outstanding (``barrier``), and FIFO pairing stays exact.

On ``error`` for a batch of prefixes, the batch is split in two and each half is
sent again, so one bad prefix cannot take its neighbours down; a single prefix
that ExaBGP still refuses is recorded as *rejected by ExaBGP*, and every view
shows it as such.  A later ``done`` for that path clears it.

No progress for ``ack_timeout`` seconds (neither an ack nor a line of an answer, such
as a long adj-RIB-out dump): the oldest command is given up as unanswered (logged,
counted; its paths stay "unconfirmed", not "announced").  An ack with
nothing outstanding is logged and counted.  Pure: time comes in as ``now``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace

from bgpsteer.core.events import Announce, Log, Withdraw

ACK_TIMEOUT = 30.0  # seconds without any progress (ack or answer line) before the oldest command is given up


@dataclass(slots=True)
class Sent:
    neighbor: str  # "" for commands that name no core neighbor
    effect: Announce | Withdraw | None  # None: a control command (route-refresh, teardown, show, eor)
    text: str  # the command as sent (for logs)
    at: float
    routes: int = 0


@dataclass(slots=True)
class AckOutcome:
    sent: Sent | None
    retry: list[tuple[str, Announce | Withdraw]] = field(default_factory=list)  # (neighbor, half batch) to send again
    logs: list[Log] = field(default_factory=list)


Key = tuple[str, int, str]  # prefix, path id, neighbor


class Ledger:
    def __init__(self, ack_timeout: float = ACK_TIMEOUT) -> None:
        self.ack_timeout = ack_timeout
        self.pending: deque[Sent] = deque()
        self.outstanding_routes = 0  # prefixes in commands not yet acknowledged (flow control)
        self.rejected: dict[
            Key, str
        ] = {}  # paths ExaBGP refused even alone: (prefix, path id, neighbor) -> command text
        self.unconfirmed: set[Key] = set()  # paths whose command got no answer
        self.acks_ok = 0
        self.acks_error = 0
        self.extra_acks = 0
        self.missing_acks = 0
        self.retries = 0
        self.progress_at = 0.0  # last ack or answer line: ExaBGP is working through our commands

    def touch(self, now: float) -> None:
        """A line of an answer arrived: the command at the head is being answered."""
        self.progress_at = now

    def sent(self, s: Sent) -> None:
        self.pending.append(s)
        self.outstanding_routes += s.routes

    @property
    def idle(self) -> bool:
        return not self.pending

    def ack(self, ok: bool, now: float) -> AckOutcome:
        if not self.pending:
            self.extra_acks += 1
            return AckOutcome(
                None,
                logs=[
                    Log(
                        "warning",
                        f"ExaBGP sent an ack ('{'done' if ok else 'error'}') for no outstanding command; ignored",
                        {"extra_acks": self.extra_acks},
                    )
                ],
            )
        s = self.pending.popleft()
        self.outstanding_routes -= s.routes
        self.progress_at = now
        out = AckOutcome(s)
        e = s.effect
        if ok:
            self.acks_ok += 1
            if e is not None and (self.rejected or self.unconfirmed):
                for p in e.prefixes:
                    k = (p, e.path_id, s.neighbor)
                    self.rejected.pop(k, None)
                    self.unconfirmed.discard(k)
            return out
        self.acks_error += 1
        if e is None:
            out.logs.append(Log("error", f"ExaBGP rejected command: {s.text[:200]}"))
        elif len(e.prefixes) > 1:
            half = len(e.prefixes) // 2
            self.retries += 1
            for part in (e.prefixes[:half], e.prefixes[half:]):
                out.retry.append((s.neighbor, replace(e, prefixes=part)))  # scope and cloud peer kept
            out.logs.append(
                Log(
                    "warning",
                    f"ExaBGP rejected a batch of {len(e.prefixes)} prefixes; sending it again in two halves",
                    {"command": s.text[:200]},
                )
            )
        else:
            self.rejected[(e.prefixes[0], e.path_id, s.neighbor)] = s.text[:300]
            out.logs.append(
                Log(
                    "error",
                    f"ExaBGP rejected {e.prefixes[0]} (path id {e.path_id}) to {s.neighbor}: marked rejected by ExaBGP",
                    {"command": s.text[:200]},
                )
            )
        return out

    def expire(self, now: float) -> list[Log]:
        """Give up on commands that got no answer for ack_timeout seconds."""
        logs: list[Log] = []
        while self.pending and now - max(self.pending[0].at, self.progress_at) >= self.ack_timeout:
            s = self.pending.popleft()
            self.outstanding_routes -= s.routes
            self.missing_acks += 1
            if s.effect is not None:
                self.unconfirmed.update((p, s.effect.path_id, s.neighbor) for p in s.effect.prefixes)
            logs.append(
                Log(
                    "error",
                    f"no ack from ExaBGP for {now - s.at:.0f}s (is exabgp.api.ack true?); giving up on: {s.text[:200]}",
                    {"missing_acks": self.missing_acks},
                )
            )
        return logs

    def state(self, prefix: str, path_id: int, neighbor: str | None = None) -> str:
        """'rejected' / 'unconfirmed' for a path ExaBGP refused or never answered for (towards one neighbor, or
        any), else 'accepted'."""

        def hit(k: tuple[str, int, str]) -> bool:
            return k[0] == prefix and k[1] == path_id and (neighbor is None or k[2] == neighbor)

        if self.rejected and any(hit(k) for k in self.rejected):
            return "rejected"
        if self.unconfirmed and any(hit(k) for k in self.unconfirmed):
            return "unconfirmed"
        return "accepted"
