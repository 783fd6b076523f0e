"""Decisions in slices under flow control: the pipe to ExaBGP is read between slices, no new pass while ExaBGP owes
too many acks, and the collector paused during a large pass (a part of the running agent, runtime/agent.py)."""

from __future__ import annotations

import asyncio
import gc
import time

from bgpsteer.core.inputs import DecisionPass
from bgpsteer.runtime.host import Host

DECISION_CHUNK = 1000  # prefixes decided in the first slice: the pipe is read between slices (bounds the reader's wait)
SLICE_TARGET = (
    0.02  # seconds a slice should take: the slice size follows what deciding (and journaling) a prefix costs now
)
SLICE_MIN, SLICE_MAX = 50, 4 * DECISION_CHUNK
GC_PAUSE_LIMIT = 60.0  # seconds the garbage collector may stay paused during one large decision pass
SETTLED_TIMEOUT = 300.0  # seconds a reload or drain answer waits for its decisions before it reports them pending


class Slicing:
    gc_paused_at: float | None
    chunk: int | None

    def schedule(self: Host) -> None:
        """Decide what is pending: from the loop when serving (the caller's callback ends first, so the pipe is
        read before the first slice), at once otherwise (tests, benches)."""
        if self.more is not None:
            self.more()
        else:
            self.flush()

    def flush(self: Host, force: bool = False) -> None:
        """Decide what is dirty: one slice of at most ``chunk`` prefixes (the rest is scheduled through ``more``,
        so ExaBGP's pipe is read between slices), or everything with ``force`` (reconcile needs it complete)."""
        self.lines_since_flush = 0
        if not force and self.ledger.outstanding_routes >= self.window_routes:
            self.deferred_flushes += 1  # decided once ExaBGP has caught up (see _ack): the dirty set coalesces
            return
        t0 = self.timer()
        self.gc_pass(self.engine.pending())
        now, limit = self.clock(), None if force else self.chunk
        effects = self.feed(DecisionPass(limit), now, record=bool(self.engine.pending()))
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
            self.gc_pass(0)

    def gc_pass(self: Host, dirty: int) -> None:
        """A full garbage collection over a 1M-route RIB takes 150-250 ms: long enough to leave ExaBGP's pipe unread.
        While a large pass is decided in slices (a table load, a reload, a drain) the collector is paused; when the
        pass ends, what survived (the new RIB: acyclic) is frozen out of future collections, and it runs again.
        Bounded: never paused longer than GC_PAUSE_LIMIT seconds."""
        if self.chunk is None:
            return  # not serving (tests, benches): leave the collector alone
        now = time.monotonic()
        if self.gc_paused_at is None:
            if dirty > self.chunk and gc.isenabled():
                gc.disable()
                self.gc_paused_at = now
            return
        if dirty == 0 or now - self.gc_paused_at > GC_PAUSE_LIMIT:
            gc.freeze()  # O(1): moves today's survivors to the permanent generation
            gc.enable()
            self.gc_paused_at = None

    async def settled(self: Host, timeout: float = SETTLED_TIMEOUT) -> int:
        """Wait (serving the pipe meanwhile) until every dirty prefix is decided; the number still dirty at the
        timeout."""
        deadline = time.monotonic() + timeout
        while self.engine.pending() and time.monotonic() < deadline:
            if self.more is None:
                self.flush(force=True)
                break
            await asyncio.sleep(0.01)
        return self.engine.pending()
