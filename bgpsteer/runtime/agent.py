"""The running helper: ExaBGP's pipe on stdin/stdout around the pure Engine.

Reading ExaBGP's output never waits on anything else: lines are decoded and
applied as they arrive, decisions are flushed whenever the input buffer runs
dry (or every FLUSH_EVERY lines), and commands are written without blocking
the reader.  Logs go to stderr (ExaBGP relays a helper's stderr).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import pickle
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bgpsteer import forked
from bgpsteer.config.loader import ConfigError, load, load_text
from bgpsteer.core import inputs
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.bounded import BoundedCache
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
from bgpsteer.core.inputs import (
    BgpEvent,
    ConfigSwap,
    DecisionPass,
    DrainChange,
    Input,
    LoadReport,
    ProbeRound,
    RecoveredState,
    Relearning,
    Restore,
    Start,
    Tick,
)
from bgpsteer.core.ledger import Ledger, Sent
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import FAMILY_AFI
from bgpsteer.core.reconcile import SETTLE, Reconciler, peer_ready
from bgpsteer.core.view import CoreView
from bgpsteer.exabgp import codec
from bgpsteer.noc.port import MetricsSink, NocSide, PipeCounters, RuntimeInfo
from bgpsteer.probes.runner import ProbeRunner
from bgpsteer.runtime import journal, netstat, recorder, statefile
from bgpsteer.runtime.journal import Journal
from bgpsteer.runtime.recorder import Recorder

log = logging.getLogger("bgpsteer")

FLUSH_EVERY = 500  # lines: bounds decision latency under a continuous stream
# flow control: no new decision pass while this many prefixes await ExaBGP's ack; the engine's dirty
# set coalesces meanwhile, so a slow ExaBGP gets the latest decisions, not every intermediate one
WINDOW_ROUTES = 5000
OUTPUT_HIGH_WATER = 16 * 1024 * 1024  # bytes of commands ExaBGP has not read: logged (and exported) above this
LINE_LIMIT = 256 * 1024 * 1024  # ExaBGP lines can be hundreds of KB; never cut them
DECISION_CHUNK = 1000  # prefixes decided in the first slice: the pipe is read between slices (bounds the reader's wait)
SYNC_TIMEOUT = 10.0  # seconds after start without the summary's header before acks are paired anyway
SLICE_TARGET = (
    0.02  # seconds a slice should take: the slice size follows what deciding (and journaling) a prefix costs now
)
SLICE_MIN, SLICE_MAX = 50, 4 * DECISION_CHUNK
GC_PAUSE_LIMIT = 60.0  # seconds the garbage collector may stay paused during one large decision pass
SETTLED_TIMEOUT = 300.0  # seconds a reload or drain answer waits for its decisions before it reports them pending
TAP_LIMIT = 200  # changes listed in a reload's answer
SHUTDOWN_GRACE = 2.0  # seconds to let ExaBGP take the commands already written before exiting
TICK_SECONDS = (
    0.1  # hold-downs, dampening, ack timeouts and reconcile readiness move on the clock, between probe rounds
)


class Agent:
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
        self._gc_paused_at: float | None = None  # the collector is paused during a large sliced pass (_gc_pass)
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
        self._reconcile_waiting: frozenset[str] | None = None  # judged again only when this changes
        self.lines_since_flush = 0
        self.probes: ProbeRunner | None = None
        self.core_state: dict[str, str] = {}  # core router address -> ExaBGP session state
        self.started_at = clock()
        self.journal: Journal | None = None
        self.recorder: Recorder | None = None  # the flight recorder: every input of the engine (runtime/recorder.py)
        self.metrics: MetricsSink | None = None
        self.noc = noc  # the NOC's adapters (noc/port.py NocSide), from the composition root

    # -- what the NOC reads and does (noc/port.py) -------------------------------

    @property
    def view(self) -> CoreView:
        return CoreView(self.engine)  # stateless: a read API over whichever engine runs now

    def core_sessions(self) -> dict[str, str]:
        return self.core_state

    def history(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        return journal.history(self.journal_path, prefix, limit)

    def runtime(self) -> RuntimeInfo:
        return RuntimeInfo(
            os.getpid(),
            self.started_at,
            self.reconciler is None,
            self.table_complete_after,
            tuple(self.eor_sent_to),
            netstat.md5_counters(),
        )

    def pipe(self) -> PipeCounters:
        ledger = self.ledger
        return PipeCounters(
            self.malformed,
            self.ignored,
            self.commands_sent,
            ledger.acks_ok,
            ledger.acks_error,
            len(ledger.rejected),
            len(ledger.unconfirmed),
            ledger.missing_acks,
            ledger.extra_acks,
            self.previous_acks,
            ledger.outstanding_routes,
            self.deferred_flushes,
            self.output_buffer(),
            self.loop_lag_max,
            self.loop_stalls,
            self.journal.errors if self.journal is not None else 0,
            self.recorder.errors if self.recorder is not None else 0,
            self.reload_failures,
        )

    async def drain(self, egress: str, on: bool) -> dict[str, Any]:
        """Drain (RFC 8326) or undrain an egress: re-decided in slices (the pipe is read meanwhile), kept across
        restarts."""
        sent = self.commands_sent
        now = self.clock()
        self.apply(self._input(DrainChange(egress, on), now))
        self.save_state()  # a restart keeps the egress drained
        self.schedule()
        pending = await self.settled()
        return {
            "egress": egress,
            "drained": on,
            "commands_sent": self.commands_sent - sent,
            "paths": self.view.egress(egress, self.clock()).paths,
            "pending": pending,
        }

    def report_load(self, utilization: dict[str, float], volumes: dict[str, float]) -> None:
        self.apply(self._input(LoadReport(utilization, volumes), self.clock()))

    def measure(self, egress: str, samples: list[Sample]) -> None:
        if self.probes is not None:
            self.probes.pushed(egress)
        self.on_probe(egress, samples, pushed=True)

    def caches(self) -> dict[str, BoundedCache[Any, Any]]:
        """Every cache of the running agent (all bounded): the decoder's attribute sets and the engine's."""
        return {"attribute_sets": self.decoder.intern.table, **self.engine.caches()}

    @property
    def journal_path(self) -> Path:
        return Path(self.engine.config.agent.state_dir) / "journal.jsonl"

    @property
    def state_path(self) -> Path:
        return Path(self.engine.config.agent.state_dir) / statefile.NAME

    def open_journal(self) -> None:
        cfg = self.engine.config
        self.journal = Journal(self.journal_path, cfg.egress_of, cfg.agent.journal_max_bytes)
        if self.journal.repaired:
            log.warning(
                "journal %s: cut a last line torn by a kill (%d bytes)", self.journal_path, self.journal.repaired
            )

    def open_recorder(self, text: str) -> None:
        """Start the flight recorder (agent.record_max_bytes; 0: off) with the config the engine started with."""
        cfg = self.engine.config
        if cfg.agent.record_max_bytes <= 0:
            return
        self.recorder = Recorder(Path(cfg.agent.state_dir) / recorder.DIR, cfg.agent.record_max_bytes)
        self.recorder.config(self.clock(), text, cfg.digest, cfg.source, begin=True)

    def restore(self) -> None:
        """Before start: what an earlier run knew (egress health, dampening, drain, decision ids)."""
        data = statefile.load(self.state_path)
        last = journal.last_decision(self.journal_path) if self.journal is not None else 0
        saved = data.get("decision_id")
        data["decision_id"] = max(last, saved if isinstance(saved, int) else 0)
        # ages were saved against the monotonic clock of that moment; the wall clock says how long ago that was
        wall = data.get("saved_wall")
        away = max(0.0, time.time() - wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else 0.0
        saved_at = self.clock() - away
        self.apply(self._input(Restore(data, saved_at), self.clock()))

    def save_state(self) -> None:
        statefile.save(self.state_path, {**self.engine.persist(self.clock()), "saved_wall": time.time()})

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
            if isinstance(e, (Announce, Withdraw)):
                for core in cores:
                    if e.afi in [FAMILY_AFI[f] for f in core.families] and (e.scope is None or e.scope == core.scope):
                        self.send_effect(e, core.address)
            elif isinstance(e, Teardown):
                self.send_barrier(codec.teardown(e.peer))
            elif isinstance(e, Log):
                self.log(e)
            else:
                self._record(e)

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

    def _input(self, inp: Input, now: float, record: bool = True) -> list[Effect]:
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
                if isinstance(item, PeerState) and item.peer not in self.engine.peers:
                    self._core_state(item.peer, item.state)
                self.apply(self._input(BgpEvent(item), now))  # recorded as the line above
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
        if row.peer in self.engine.peers:
            self.apply(self._input(RecoveredState(row.peer, row.state, row.fsm), self.clock()))
            if row.state == "up":  # relearn what it announced: the session is up, so ExaBGP answers the refresh in turn
                info = self.engine.peers[row.peer]
                for fam in info.peer.families:
                    # only what it sends after the refresh counts towards its table being relearned (reconcile)
                    self.send_barrier(
                        codec.route_refresh(row.peer, FAMILY_AFI[fam]), lambda: self._relearning(row.peer)
                    )
        else:
            self._core_state(row.peer, row.state)

    def _relearning(self, peer: str) -> None:
        self._input(Relearning(peer), self.clock())

    def _core_state(self, address: str, state: str) -> None:
        self.core_state[address] = state
        if state == "up" and self.converged:
            # a core session that (re)comes up once the table is complete: ExaBGP re-sends what it holds, then this
            self._send_eor(address)

    def _send_eor(self, address: str) -> None:
        """End-of-RIB per family (RFC 4724): with manual-eor, ExaBGP sends none, so a graceful-restart helper on the
        core keeps stale paths until it comes; sent only once every wanted path has been announced and acknowledged."""
        if not self.engine.config.agent.graceful_restart:
            return  # ExaBGP sends its own End-of-RIB
        for core in self.engine.config.core_routers:
            if core.address == address:
                for fam in core.families:
                    self.send_barrier(f"neighbor {address} announce eor {fam} unicast")
                if address not in self.eor_sent_to:
                    self.eor_sent_to.append(address)

    def _check_converged(self, now: float) -> None:
        """After start: once ExaBGP's dump is reconciled, every cloud peer is ready (End-of-RIB, quiet, down, or the
        timeout), everything is decided and ExaBGP has acknowledged it all, the table is complete: End-of-RIB."""
        if self.converged or self.reconciler is not None or self.engine.pending() or self.ledger.outstanding_routes:
            return
        if any(peer_ready(p, now, self.started_at, self.settle) is None for p in self.engine.progress()):
            return
        self.converged = True
        self.table_complete_after = now - self.started_at
        up = [c.address for c in self.engine.config.core_routers if self.core_state.get(c.address) == "up"]
        log.info(
            "initial table complete after %.1fs: %d paths announced%s",
            now - self.started_at,
            sum(self.engine.stats.paths_by_path_id.values()),
            "; End-of-RIB to " + ", ".join(up) if up and self.engine.config.agent.graceful_restart else "",
        )
        for address in up:
            self._send_eor(address)

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
            if isinstance(half, Announce):
                keep = [p for p in half.prefixes if self.engine.wanted(p, half.path_id, half.scope) == half.attrs]
            else:
                keep = [p for p in half.prefixes if self.engine.wanted(p, half.path_id, half.scope) is None]
            if keep:
                self.send_effect(replace(half, prefixes=keep), neighbor)
        self._drain_barrier()
        if self.engine.pending() and self.ledger.outstanding_routes < self.window_routes:
            # the window reopened: the next slice runs from the loop (serving), not inside this ack, so a burst
            # of acks read at once cannot chain slice after slice before the pipe is read again
            self.schedule()

    def schedule(self) -> None:
        """Decide what is pending: from the loop when serving (the caller's callback ends first, so the pipe is
        read before the first slice), at once otherwise (tests, benches)."""
        if self.more is not None:
            self.more()
        else:
            self.flush()

    def flush(self, force: bool = False) -> None:
        """Decide what is dirty: one slice of at most ``chunk`` prefixes (the rest is scheduled through ``more``,
        so ExaBGP's pipe is read between slices), or everything with ``force`` (reconcile needs it complete)."""
        self.lines_since_flush = 0
        if not force and self.ledger.outstanding_routes >= self.window_routes:
            self.deferred_flushes += 1  # decided once ExaBGP has caught up (see _ack): the dirty set coalesces
            return
        t0 = self.timer()
        self._gc_pass(self.engine.pending())
        now, limit = self.clock(), None if force else self.chunk
        effects = self._input(DecisionPass(limit), now, record=bool(self.engine.pending()))
        if self.metrics is not None and effects:
            self.metrics.decision(self.timer() - t0)
        self.apply(effects)
        if not force and self.chunk is not None and self.engine.pending():
            # a full slice: aim the next one at SLICE_TARGET (halfway, so one slow slice does not swing it)
            ideal = self.chunk * SLICE_TARGET / max(self.timer() - t0, 1e-4)
            self.chunk = max(SLICE_MIN, min(SLICE_MAX, int((self.chunk + ideal) / 2)))
        if self.engine.pending() and self.more is not None:
            self.more()
        elif not self.engine.pending():
            self._gc_pass(0)

    def _gc_pass(self, dirty: int) -> None:
        """A full garbage collection over a 1M-route RIB takes 150-250 ms: long enough to leave ExaBGP's pipe unread.
        While a large pass is decided in slices (a table load, a reload, a drain) the collector is paused; when the
        pass ends, what survived (the new RIB: acyclic) is frozen out of future collections, and it runs again.
        Bounded: never paused longer than GC_PAUSE_LIMIT seconds."""
        if self.chunk is None:
            return  # not serving (tests, benches): leave the collector alone
        now = time.monotonic()
        if self._gc_paused_at is None:
            if dirty > self.chunk and gc.isenabled():
                gc.disable()
                self._gc_paused_at = now
            return
        if dirty == 0 or now - self._gc_paused_at > GC_PAUSE_LIMIT:
            gc.freeze()  # O(1): moves today's survivors to the permanent generation
            gc.enable()
            self._gc_paused_at = None

    async def settled(self, timeout: float = SETTLED_TIMEOUT) -> int:
        """Wait (serving the pipe meanwhile) until every dirty prefix is decided; the number still dirty at the
        timeout."""
        deadline = time.monotonic() + timeout
        while self.engine.pending() and time.monotonic() < deadline:
            if self.more is None:
                self.flush(force=True)
                break
            await asyncio.sleep(0.01)
        return self.engine.pending()

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Ask ExaBGP which sessions are up and what it still holds (reconcile), and
        announce the next-hop routes of the egresses in service."""
        self.reconciler = Reconciler(self.clock(), self.settle)
        self._reconcile_waiting = None
        # ExaBGP answers by process name: what a killed helper sent and ExaBGP had not yet run is acknowledged to
        # this one, ahead of anything it sends.  So acks count only once the answer to the first command (always
        # a header line) has begun; ExaBGP answers in order, so none of the previous process's can follow it.
        self.synced = False
        self._unpaired = []
        self._sync_asked = self.clock()
        self.send("show neighbor summary")  # sessions already up: their state, and route refresh for the cloud ones
        self.send("show adj-rib out extensive")
        now = self.clock()
        self.apply(self._input(Start(), now))

    def on_probe(self, egress: str, samples: list[Sample], pushed: bool = False) -> None:
        self.apply(self._input(ProbeRound(egress, tuple(samples), pushed), self.clock()))

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
        effects = self._input(Tick(), now)
        if self.recorder is not None:
            self.recorder.flush()
        self.apply(effects)
        self.reconcile()
        self._check_converged(now)

    def reconcile(self) -> None:
        """Withdraw what ExaBGP holds from an earlier run that nobody wants now, egress by egress as their
        cloud peers become ready (core/reconcile.py); judged again only when the ready set changes."""
        r = self.reconciler
        if r is None or not r.dump_done:
            return
        now = self.clock()
        progress = self.engine.progress()
        waiting = r.waiting_egresses(progress, now)
        if waiting == self._reconcile_waiting:
            return
        self._reconcile_waiting = waiting
        self.flush(force=True)  # wanted must be decided, whatever ExaBGP still owes
        wanted = {(prefix, pid) for prefix, pid, _ in self.engine.announced_routes()}
        egress_of = self.engine.config.egress_of
        before = r.withdrawn
        withdrawals = (
            r.step(now, progress, egress_of, wanted, {c.address for c in self.engine.config.core_routers}) or {}
        )
        for neighbor, ws in withdrawals.items():
            for w in ws:
                self.send_effect(w, neighbor)
        gone = sorted({(p, w.path_id) for ws in withdrawals.values() for w in ws for p in w.prefixes})
        if gone:
            log.info(
                "reconcile: withdrawing %d stale route(s) held from before, e.g. %s",
                len(gone),
                ", ".join(f"{p} via {egress_of.get(pid, f'path id {pid}')}" for p, pid in gone[:5]),
            )
        if gone:
            decision = self.engine.next_decision()
            why = "reconcile after restart: held in ExaBGP from before, no longer wanted"
            if self.recorder is not None:  # the adapter's own decision: replay shows it as recorded
                self.recorder.record(recorder.ADAPTER, now, decision, why, gone)
            if self.journal is not None:
                self.journal.record(Changed(decision, now, why, [(p, pid, None, None) for p, pid in gone]))
        ready = ", ".join(f"{name}: {why}" for name, why in sorted(r.readiness(progress, now).items()) if why)
        log.info(
            "reconcile with ExaBGP: %d held routes judged so far, %d stale withdrawn now, %d waiting for egresses %s "
            "(ready: %s)",
            r.checked,
            r.withdrawn - before,
            len(r.held),
            ", ".join(sorted(waiting)) or "-",
            ready or "none",
        )
        if r.done:
            log.info(
                "reconciled with ExaBGP: %d routes held from before checked, %d stale withdrawn", r.checked, r.withdrawn
            )
            self.reconciler = None

    async def reload(self) -> dict[str, Any]:
        """The one reload path (SIGHUP and the control socket): load and validate off the event loop (a large file
        must not stall the pipe), swap all or nothing, re-decide in slices; the summary of what changed.
        Raises ConfigError (counted, logged; the running policy is kept)."""
        stats = self.engine.stats  # the same object before and after: counters are read as they move
        ann, wd = stats.announcements, stats.withdrawals
        try:
            await self._validate_forked()  # a huge or broken file is refused without holding the loop
            config, text = await asyncio.get_running_loop().run_in_executor(None, load_text, self.config_path)
        except ConfigError as exc:
            self.reload_failures += 1
            log.error("reload failed, running policy kept:\n%s", exc)
            raise
        old = self.engine.config.digest
        egress_of = config.egress_of
        changes: list[Change] = []
        self.taps.append(changes)
        try:
            self.apply_config(config, text)
            pending = await self.settled()
        finally:
            self.taps.remove(changes)
        brief = [
            {
                "prefix": p,
                "egress": egress_of.get(pid, "?"),
                "old": _brief(b) if b else None,
                "new": _brief(n) if n else None,
            }
            for p, pid, b, n in sorted(changes, key=lambda c: (c[0], c[1]))[:TAP_LIMIT]
        ]
        return {
            "old_digest": old,
            "new_digest": config.digest,
            "announced": stats.announcements - ann,
            "withdrawn": stats.withdrawals - wd,
            "changes": brief,
            "pending": pending,
        }

    async def _validate_forked(self) -> None:
        """Parse and check the config file in a forked child first: the YAML parser holds the interpreter for
        long stretches on a large file, which would leave ExaBGP's pipe unread.  Raises its ConfigError."""
        path = self.config_path

        def check() -> bytes:
            try:
                load(path)
            except ConfigError as exc:
                return pickle.dumps(exc.issues)
            return pickle.dumps(None)

        data = await (await forked.fork(check)).read()
        issues = pickle.loads(data) if data else None  # no answer (the child died): the load that follows reports it
        if issues:
            raise ConfigError(issues)

    def apply_config(self, config: Config, text: str | None = None) -> None:
        """Swap in a validated config: decisions (in slices), probes and journal follow it.  A pass still in progress
        is not finished first (that would hold the loop): its prefixes are re-imported and decided under the new
        config."""
        self.apply(self._input(ConfigSwap(config, text), self.clock()))
        self.schedule()
        if self.probes is not None:
            self.probes.start(config.egresses)
        if self.journal is not None:
            self.journal.egress_of = config.egress_of

    async def dump_forked(self) -> None:
        """SIGUSR1: write the state dump from a forked copy-on-write snapshot; the pipe is never left unread."""

        def work() -> bytes:
            try:
                self.dump()
            except Exception:
                log.exception("state dump failed")
                return b""
            return b"ok"

        if await (await forked.fork(work)).read() != b"ok":
            log.error("state dump failed: no state.json written")

    def dump(self) -> Path:
        if self.noc is None:
            raise RuntimeError("no NOC side to render the state dump (the composition root passes one)")
        target = Path(self.engine.config.agent.state_dir) / "state.json"
        statefile.ensure_dir(target.parent)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the whole state, config included: root only
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.noc.state_dump(self), indent=1, default=str))
        os.replace(tmp, target)
        log.info("state written to %s", target)
        return target


def _brief(a: Attrs) -> str:
    d = a.describe()
    return f"lp {d['local_pref']} med {d['med']} comm {' '.join(d['communities']) or '-'}"
