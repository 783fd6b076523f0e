"""The running helper: ExaBGP's pipe on stdin/stdout around the pure Engine.

Reading ExaBGP's output never waits on anything else: lines are decoded and
applied as they arrive, decisions are flushed whenever the input buffer runs
dry (or every FLUSH_EVERY lines), and commands are written without blocking
the reader.  Logs go to stderr (ExaBGP relays a helper's stderr).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from bgpsteer.core import inputs
from bgpsteer.core.config import Config
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import (
    Announce,
    Change,
    Changed,
    Effect,
    EgressChanged,
    HeldRoute,
    Log,
    PeerState,
    SessionSummary,
    Teardown,
    Withdraw,
)
from bgpsteer.core.inputs import BgpEvent, Input, ProbeRound, RecoveredState, Relearning, Start, Tick, TunnelReading
from bgpsteer.core.ledger import Ledger, Sent
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import FAMILY_AFI
from bgpsteer.core.reconcile import SETTLE, Reconciler
from bgpsteer.core.tunnel import TunnelFacts
from bgpsteer.exabgp import codec
from bgpsteer.flows.collector import FlowCollector
from bgpsteer.monitor.runner import MonitorRunner
from bgpsteer.noc.port import CoreDrift, CounterState, MetricsSink, NocSide
from bgpsteer.probes.runner import ProbeRunner
from bgpsteer.runtime.journal import Journal
from bgpsteer.runtime.loadreading import LoadReading
from bgpsteer.runtime.monitoring import Monitoring
from bgpsteer.runtime.noc_side import NocPortSide
from bgpsteer.runtime.persistence import Persistence
from bgpsteer.runtime.recorder import Recorder
from bgpsteer.runtime.reloading import TAP_LIMIT, Reloading
from bgpsteer.runtime.slicing import Slicing
from bgpsteer.runtime.startup import Startup
from bgpsteer.tunnels.runner import TunnelRunner
from bgpsteer.utilization.runner import UtilizationRunner

log = logging.getLogger("bgpsteer")

FLUSH_EVERY = 500  # lines: bounds decision latency under a continuous stream
# flow control: no new decision pass while this many prefixes await ExaBGP's ack; the engine's dirty
# set coalesces meanwhile, so a slow ExaBGP gets the latest decisions, not every intermediate one
WINDOW_ROUTES = 5000
OUTPUT_HIGH_WATER = 16 * 1024 * 1024  # bytes of commands ExaBGP has not read: logged (and exported) above this
LINE_LIMIT = 256 * 1024 * 1024  # ExaBGP lines can be hundreds of KB; never cut them
SYNC_TIMEOUT = 10.0  # seconds after start without the summary's header before acks are paired anyway
SHUTDOWN_GRACE = 2.0  # seconds to let ExaBGP take the commands already written before exiting
TICK_SECONDS = (
    0.1  # hold-downs, dampening, ack timeouts and reconcile readiness move on the clock, between probe rounds
)


class Agent(NocPortSide, Slicing, Persistence, Startup, Reloading, Monitoring, LoadReading):
    """ExaBGP's helper: the pipe protocol and ack pairing here; what the NOC asks of it (noc_side.py), decisions in
    slices under flow control (slicing.py), what it keeps on disk (persistence.py), its start (startup.py) and
    reload (reloading.py) in parts of their own."""

    def __init__(
        self,
        config_path: str,
        config: Config,
        out: Callable[[bytes], None],
        clock: Callable[[], float] = time.time,
        settle: float = SETTLE,
        noc: NocSide | None = None,
    ) -> None:
        self.config_path = config_path
        self.engine = Engine(config)
        self.decoder = codec.Decoder()
        self.out = out
        self.clock = clock
        self.malformed = 0
        self.learned_saved = 0  # the site learner's version last written to the state file
        self.ignored = 0
        self.commands_sent = 0
        self.reload_failures = 0
        self.ledger = Ledger()  # every command paired with its ack; refusals remembered
        # commands ExaBGP answers at once: sent only when nothing is outstanding (and what to do once sent)
        self.barrier: deque[tuple[str, Callable[[], None] | None]] = deque()
        self.window_routes = WINDOW_ROUTES
        self.deferred_flushes = 0  # decision passes put off because ExaBGP had not acknowledged enough
        self.output_buffer: Callable[[], int] = lambda: (
            0
        )  # bytes written but not yet taken by ExaBGP (the pipe transport's buffer)
        self.chunk: int | None = None  # prefixes decided per slice (set when serving; None: all at once)
        self.more: Callable[[], None] | None = None  # schedules the next slice (set when serving)
        self.timer: Callable[[], float] = time.perf_counter  # times slices (their size follows their cost)
        self.taps: list[list[Change]] = []  # collect the changes of a reload or drain for its answer
        self.gc_paused_at: float | None = None  # the collector is paused during a large sliced pass (gc_pass)
        self.output_high = False
        self.synced = True  # acks are this process's own (start() clears it until ExaBGP's first answer)
        self.previous_acks = 0  # acks ExaBGP sent for commands of a previous helper process (ignored)
        self._sync_asked = 0.0
        self._unpaired: list[codec.Ack] = []  # acks held back until the summary's header (see start)
        self.loop_lag_max = 0.0  # longest the event loop was held (so ExaBGP's pipe left unread), measured by serve
        self.loop_stalls = 0  # times it was held longer than serve.LAG_STALL
        self.settle = settle
        self.table_complete_after: float | None = None
        self.eor_sent_to: list[str] = []
        self.converged = False  # the whole table announced after start: End-of-RIB has gone to the core sessions
        self.reconciler: Reconciler | None = None  # the adj-RIB-out of an earlier run, while it is judged
        self.reconcile_waiting: frozenset[str] | None = None  # reconcile: judged again only when this changes
        self.lines_since_flush = 0
        self.probes: ProbeRunner | None = None
        self.tunnels: TunnelRunner | None = None
        self.core_state: dict[str, str] = {}  # core router address -> ExaBGP session state
        self.drift_state: dict[tuple[str, str], CoreDrift] = {}  # monitored core router -> its last reading's drift
        self.monitors: MonitorRunner | None = None
        self.utilization: UtilizationRunner | None = None
        self.counter_state: dict[str, CounterState] = {}  # egress -> its interface counter reader's last word
        self.flows: FlowCollector | None = None  # per-prefix volumes from flow export (steering.relief.flows)
        self.started_at = clock()
        self.journal: Journal | None = None
        self.recorder: Recorder | None = None  # the flight recorder: every input of the engine (runtime/recorder.py)
        self.metrics: MetricsSink | None = None
        self.noc = noc  # the NOC's adapters (noc/port.py NocSide), from the composition root

    # -- output ------------------------------------------------------------------

    @property
    def acks_ok(self) -> int:
        return self.ledger.acks_ok

    @property
    def acks_error(self) -> int:
        return self.ledger.acks_error

    def send(self, line: str, neighbor: str = "", effect: Announce | Withdraw | None = None) -> None:
        self.commands_sent += 1
        self.ledger.sent(Sent(neighbor, effect, line, self.clock(), len(effect.prefixes) if effect is not None else 0))
        self.out((line + "\n").encode())

    def send_barrier(self, line: str, on_sent: Callable[[], None] | None = None) -> None:
        """A command ExaBGP answers at once (not in turn): sent when no other ack is owed, so pairing stays exact."""
        self.barrier.append((line, on_sent))
        self._drain_barrier()

    def _drain_barrier(self) -> None:
        while self.barrier and self.ledger.idle:
            line, on_sent = self.barrier.popleft()
            self.send(line)
            if on_sent is not None:
                on_sent()

    def send_effect(self, e: Announce | Withdraw, neighbor: str) -> None:
        for chunk in codec.chunks(e):
            self.send(codec.encode_one(chunk, neighbor), neighbor, chunk)

    def apply(self, effects: list[Effect]) -> None:
        cores = self.engine.config.core_routers
        for e in effects:
            if isinstance(e, (Announce, Withdraw)) and e.peer is not None:
                if self.reconciler is None:  # until reconciled, startup sends the return path in full at the end
                    self.send_effect(e, e.peer)  # the return path: one cloud session
            elif isinstance(e, (Announce, Withdraw)):
                for core in cores:
                    if e.afi in [FAMILY_AFI[f] for f in core.families] and (e.scope is None or e.scope == core.scope):
                        self.send_effect(e, core.address)
            elif isinstance(e, Teardown):
                self.send_barrier(codec.teardown(e.peer))
            elif isinstance(e, Log):
                self.log(e)
            else:
                self._record(e)
        learner = self.engine.site_learner
        if learner is not None and learner.version != self.learned_saved:
            self.learned_saved = learner.version
            self.save_state()  # the site prefixes learned from the core: a restarted helper must not lose them

    def _record(self, e: Changed | EgressChanged) -> None:
        """A decision's record: into the answers that wait for it (reload, drain), the journal, the metrics."""
        if isinstance(e, Changed):
            for tap in self.taps:
                tap.extend(e.changes[: max(0, TAP_LIMIT - len(tap))])
        if self.journal is not None:
            self.journal.record(e)
        if self.metrics is not None:
            self.metrics.record(e)
        if isinstance(e, EgressChanged):
            self.save_state()

    # -- input -------------------------------------------------------------------

    def feed(self, inp: Input, now: float, record: bool = True) -> list[Effect]:
        """The one way into the engine (core/inputs.py): recorded as it is applied, so replay applies the same."""
        if record and self.recorder is not None:
            self.recorder.input(now, inp)
        return inputs.apply(self.engine, inp, now)

    def on_line(self, line: str) -> None:
        now = self.clock()  # one reading per line: what the recorder keeps is what the engine saw
        if self.recorder is not None:
            self.recorder.line(now, line)
        for item in self.decoder.decode(line):
            if isinstance(item, codec.BGP_EVENTS):
                if isinstance(item, PeerState) and self.engine.cloud_peer(item.peer) is None:
                    self.core_session(item.peer, item.state)
                elif isinstance(item, PeerState):
                    self.cloud_session(item.peer, item.state)
                self.apply(self.feed(BgpEvent(item), now, record=False))  # recorded as the line above
            else:
                self._answer_line(item, line)
        if self.metrics is not None and self.decoder.last_time is not None:
            self.metrics.lag(self.clock() - self.decoder.last_time)
        self.lines_since_flush += 1
        if self.lines_since_flush >= FLUSH_EVERY:
            self.flush()

    def _answer_line(self, item: codec.Decoded, line: str) -> None:
        """Whatever in ExaBGP's output is not a BGP event: acks, answers to show commands, and lines nobody asked
        for."""
        if isinstance(item, codec.Ack):
            if self.synced:
                self._ack(item)
            else:
                self.previous_acks += 1
                self._unpaired.append(item)
        elif isinstance(item, codec.SummaryHeader):
            self._sync()
        elif isinstance(item, HeldRoute):
            if self.reconciler is not None and self._answering("show adj-rib out"):
                self.reconciler.add((item.neighbor, item.prefix, item.path_id))
            else:
                self._malformed("adj-rib-out line while no dump was asked for", line)
        elif isinstance(item, SessionSummary):
            self._sync()  # the header was lost: its rows are proof enough
            if self._answering("show neighbor summary"):
                self._recovered_state(item)
            else:
                self._malformed("neighbor summary row while none was asked for", line)
        elif isinstance(item, codec.Text):
            if not self._answering("show "):  # a header or blank line of an answer is fine
                self._malformed("not JSON, not an acknowledgement, not part of an answer", line)
        elif isinstance(item, codec.Malformed):
            self._malformed(item.reason, item.line)
        else:  # Ignored, Answer
            self.ignored += 1

    def _sync(self) -> None:
        """The answer to this process's first command has begun: every ack from now on is for its own commands."""
        if self.synced:
            return
        self.synced = True
        self._unpaired.clear()
        if self.previous_acks:
            log.info("ignored %d acks that ExaBGP sent for commands of the previous helper process", self.previous_acks)

    def _malformed(self, reason: str, line: str) -> None:
        self.malformed += 1
        log.warning("skipped malformed line from ExaBGP (%s): %s", reason, line.strip()[:200])

    def _answering(self, command: str) -> bool:
        """True while the oldest command awaiting its ack is this show command: its answer lines come just before
        that ack."""
        if self.ledger.pending and self.ledger.pending[0].text.startswith(command):
            self.ledger.touch(self.clock())
            return True
        return False

    def _recovered_state(self, row: SessionSummary) -> None:
        """A session's state after a helper restart (ExaBGP replays no neighbor-changes): never show a live session
        as idle."""
        cloud = self.engine.cloud_peer(row.peer)
        if cloud is not None:
            self.apply(self.feed(RecoveredState(row.peer, row.state, row.fsm), self.clock()))
            if row.state == "up":  # relearn what it announced: the session is up, so ExaBGP answers the refresh in turn
                for fam in cloud.families:
                    # only what it sends after the refresh counts towards its table being relearned (reconcile)
                    self.send_barrier(
                        codec.route_refresh(row.peer, FAMILY_AFI[fam]), lambda: self._relearning(row.peer)
                    )
        else:
            self.core_session(row.peer, row.state)
            self.refresh_site_learning(row.peer)  # the site prefixes it teaches: ExaBGP replays none to a new helper

    def _relearning(self, peer: str) -> None:
        self.feed(Relearning(peer), self.clock())

    @staticmethod
    def log(e: Log) -> None:
        getattr(log, e.level)("%s %s", e.message, " ".join(f"{k}={v}" for k, v in e.fields.items()))

    def _ack(self, ack: codec.Ack) -> None:
        outcome = self.ledger.ack(ack.ok, self.clock())
        if (
            outcome.sent is not None
            and outcome.sent.text.startswith("show adj-rib out")
            and self.reconciler is not None
        ):
            self.reconciler.dump_done = True  # the whole dump is in, however late: reconcile can judge it
            if not ack.ok:
                log.error("ExaBGP refused 'show adj-rib out': nothing held from before can be reconciled")
        for entry in outcome.logs:
            self.log(entry)
        for neighbor, half in outcome.retry:
            # only what is still wanted as it was: a newer decision may have replaced it meanwhile
            if half.peer is not None:
                now = {p: self.engine.return_wanted(half.peer, p) for p in half.prefixes}
            else:
                now = {p: self.engine.wanted(p, half.path_id, half.scope) for p in half.prefixes}
            want = half.attrs if isinstance(half, Announce) else None
            keep = [p for p, a in now.items() if a == want]
            if keep:
                self.send_effect(replace(half, prefixes=keep), neighbor)
        self._drain_barrier()
        if self.engine.pending() and self.ledger.outstanding_routes < self.window_routes:
            # the window reopened: the next slice runs from the loop (serving), not inside this ack, so a burst
            # of acks read at once cannot chain slice after slice before the pipe is read again
            self.schedule()

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Ask ExaBGP which sessions are up and what it still holds (reconcile), and
        announce the next-hop routes of the egresses in service."""
        self.reconciler = Reconciler(self.clock(), self.settle, self.engine.config.agent.ready_timeout)
        self.reconcile_waiting = None
        # ExaBGP answers by process name: what a killed helper sent and ExaBGP had not yet run is acknowledged to
        # this one, ahead of anything it sends.  So acks count only once the answer to the first command (always
        # a header line) has begun; ExaBGP answers in order, so none of the previous process's can follow it.
        self.synced = False
        self._unpaired = []
        self._sync_asked = self.clock()
        self.send("show neighbor summary")  # sessions already up: their state, and route refresh for the cloud ones
        self.send("show adj-rib out extensive")
        now = self.clock()
        self.apply(self.feed(Start(), now))

    def on_probe(self, egress: str, samples: list[Sample], pushed: bool = False) -> None:
        self.apply(self.feed(ProbeRound(egress, tuple(samples), pushed), self.clock()))

    def on_tunnel(self, facts: TunnelFacts) -> None:
        self.apply(self.feed(TunnelReading(facts), self.clock()))

    def tick(self) -> None:
        now = self.clock()
        for entry in self.ledger.expire(now):
            self.log(entry)
        buffered = self.output_buffer()
        if buffered >= OUTPUT_HIGH_WATER and not self.output_high:
            self.output_high = True
            log.warning(
                "ExaBGP is not taking commands: %d bytes buffered (high-water %d); decisions coalesce until it "
                "catches up",
                buffered,
                OUTPUT_HIGH_WATER,
            )
        elif buffered < OUTPUT_HIGH_WATER // 2 and self.output_high:
            self.output_high = False
            log.info("ExaBGP takes commands again: %d bytes buffered", buffered)
        if not self.synced and now - self._sync_asked >= SYNC_TIMEOUT:
            # never without the header (ExaBGP 5.0.15 always writes it); if it did not come, the acks held back are
            # taken as this process's own (no header, so most likely no previous process's either) and paired now
            log.warning(
                "no answer to 'show neighbor summary' after %gs: pairing the %d acks held back since start",
                SYNC_TIMEOUT,
                len(self._unpaired),
            )
            self.synced = True
            self.previous_acks -= len(self._unpaired)
            held, self._unpaired = self._unpaired, []
            for ack in held:
                self._ack(ack)
        self._drain_barrier()
        effects = self.feed(Tick(), now)
        if self.recorder is not None:
            self.recorder.flush()
        self.apply(effects)
        self.reconcile()
        self.check_converged(now)
