"""Serving ExaBGP: the asyncio loop around an Agent (stdin reader, ticks, slices, signals, control socket, shutdown).

One process, one event loop; reading ExaBGP's output never waits on anything else.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bgpsteer.config.loader import ConfigError, load_text
from bgpsteer.core.reconcile import SETTLE
from bgpsteer.flows.collector import FlowCollector
from bgpsteer.monitor.runner import MonitorRunner
from bgpsteer.noc.port import ControlSocket, NocSide
from bgpsteer.probes.runner import ProbeRunner
from bgpsteer.runtime import pipekeeper, statefile
from bgpsteer.runtime.agent import LINE_LIMIT, SHUTDOWN_GRACE, TICK_SECONDS, Agent
from bgpsteer.runtime.slicing import DECISION_CHUNK
from bgpsteer.tunnels.runner import TunnelRunner
from bgpsteer.utilization.runner import UtilizationRunner

log = logging.getLogger("bgpsteer")


async def _listen(agent: Agent, noc: NocSide) -> ControlSocket:
    """The control socket and the metrics listener: steering goes on without them rather than not at all."""
    settings = agent.engine.config.agent
    control = noc.control(agent, settings.socket_path, settings.control_group)
    try:
        statefile.ensure_dir(control.path.parent)
        await control.start()
    except OSError as exc:
        log.error("control socket %s unavailable: %s", control.path, exc)
    if settings.metrics and agent.metrics is not None:
        try:
            await agent.metrics.serve(settings.metrics)
        except OSError as exc:
            log.error("metrics listener %s unavailable: %s", settings.metrics, exc)
    return control


async def _serve(agent: Agent, noc: NocSide) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: _background(_reload_logged(agent)))
    loop.add_signal_handler(signal.SIGUSR1, lambda: _background(agent.dump_forked()))
    agent.start()

    control = await _listen(agent, noc)
    _start_readers(agent)

    def tick() -> None:
        _guard(agent.tick)
        loop.call_later(TICK_SECONDS, tick)

    loop.call_later(TICK_SECONDS, tick)
    flush_scheduled = False

    def do_flush() -> None:
        nonlocal flush_scheduled
        flush_scheduled = False
        _guard(agent.flush)

    def more() -> None:
        nonlocal flush_scheduled
        if not flush_scheduled:
            flush_scheduled = True
            loop.call_soon(do_flush)

    agent.chunk = DECISION_CHUNK
    agent.more = more

    async def read() -> None:
        nonlocal flush_scheduled
        while True:
            try:
                raw = await reader.readline()
            except ValueError:  # a line longer than LINE_LIMIT: skip to its end
                agent.malformed += 1
                log.error("skipped a line longer than %d bytes", LINE_LIMIT)
                continue
            if not raw:
                log.info("ExaBGP closed the pipe; exiting")
                return
            _guard(agent.on_line, raw.decode("utf-8", errors="replace"))
            if not flush_scheduled:
                # runs once the buffered input is consumed: one decision pass per burst
                flush_scheduled = True
                loop.call_soon(do_flush)

    watching = asyncio.ensure_future(_watch_lag(agent))
    reading = asyncio.ensure_future(read())
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (reading, stopping, watching):
        task.cancel()
    await asyncio.gather(reading, stopping, watching, return_exceptions=True)
    await _stop_readers(agent)
    control.close()
    await shutdown(agent)


def _start_readers(agent: Agent) -> None:
    """What the agent reads besides ExaBGP's pipe: probes, tunnels, the core routers' tables, interface counters."""
    agent.probes = ProbeRunner(lambda egress, samples: _guard(agent.on_probe, egress, samples))
    agent.probes.start(agent.engine.config.egresses)
    agent.tunnels = TunnelRunner(lambda facts: _guard(agent.on_tunnel, facts))
    agent.tunnels.start(agent.engine.config.egresses)
    agent.monitors = MonitorRunner(
        lambda core, source, table, why: _guard_async(agent.on_core_table(core, source, table, why))
    )
    agent.monitors.start(agent.engine.config.core_routers)
    agent.utilization = UtilizationRunner(lambda *reading: _guard(agent.on_utilization, *reading))
    agent.utilization.start(agent.engine.config.egresses)
    agent.flows = FlowCollector(lambda volumes: _guard(agent.on_flows, volumes), lambda: agent.engine.rib.keys())
    relief = agent.engine.config.steering.relief
    agent.flows.start(relief.flows if relief else None)


async def _stop_readers(agent: Agent) -> None:
    for runner in (agent.probes, agent.tunnels, agent.monitors, agent.utilization, agent.flows):
        if runner is not None:
            await runner.aclose()


LAG_PERIOD = 0.05  # seconds between the watchdog's wake-ups
LAG_STALL = 0.1  # a longer hold of the loop is counted: the goal is that nothing holds it longer
LAG_LOG = 1.0  # and a hold this long is logged: ExaBGP's reactor waits on its helper meanwhile (keepalives at risk)


async def _watch_lag(agent: Agent) -> None:
    """Measure how long the loop is held: a sleep that wakes late was kept waiting by a callback (so was the
    reader of ExaBGP's pipe).  Cheap: one wake-up every LAG_PERIOD."""
    loop = asyncio.get_running_loop()
    while True:
        t0 = loop.time()
        await asyncio.sleep(LAG_PERIOD)
        lag = loop.time() - t0 - LAG_PERIOD
        agent.loop_lag_max = max(agent.loop_lag_max, lag)
        if lag >= LAG_STALL:
            agent.loop_stalls += 1
            if lag >= LAG_LOG:
                log.warning("the event loop was held %.1f s: ExaBGP's pipe went unread meanwhile", lag)


async def shutdown(agent: Agent) -> None:
    """Leave cleanly: decide what is pending, give ExaBGP a moment to take what was written, keep the
    egress state for the next start, and say what could not be delivered."""
    _guard(agent.flush, True)
    agent.save_state()
    deadline = time.monotonic() + SHUTDOWN_GRACE
    while agent.output_buffer() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    left = agent.output_buffer()
    if left:
        log.warning("exiting with %d bytes of commands ExaBGP did not take (the next start reconciles them)", left)
    if agent.ledger.pending:
        log.info(
            "exiting with %d commands not yet acknowledged by ExaBGP (%d prefixes)",
            len(agent.ledger.pending),
            agent.ledger.outstanding_routes,
        )
    if agent.journal is not None:
        agent.journal.close()
    if agent.recorder is not None:
        agent.recorder.close()
    log.info("stopped")


_BACKGROUND: set[asyncio.Task[None]] = set()


def _background(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine from a signal handler, keeping a reference until it ends."""
    task = asyncio.ensure_future(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _reload_logged(agent: Agent) -> None:
    try:
        r = await agent.reload()
        log.info(
            "reloaded (SIGHUP): digest %s -> %s; %d path(s) announced, %d withdrawn",
            r["old_digest"],
            r["new_digest"],
            r["announced"],
            r["withdrawn"],
        )
    except ConfigError:
        pass  # logged and counted by reload()
    except Exception:
        agent.reload_failures += 1
        log.exception("reload failed, running policy kept")


def _guard(fn: Callable[..., Any], *args: Any) -> None:
    """The helper must never die on input: ExaBGP exits after 5 helper deaths a minute."""
    try:
        fn(*args)
    except Exception:
        log.exception("internal error handled; continuing")


async def _guard_async(work: Awaitable[None]) -> None:
    """The same for work that awaits."""
    try:
        await work
    except Exception:
        log.exception("internal error handled; continuing")


def _log_slow_collections(limit: float) -> None:
    """Diagnosis: log garbage collections that take longer than ``limit`` seconds (they hold the loop too)."""
    started = [0.0]

    def timing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif (took := time.perf_counter() - started[0]) >= limit:
            log.warning(
                "garbage collection of generation %d took %.3f s (%d collected)",
                info["generation"],
                took,
                info["collected"],
            )

    gc.callbacks.append(timing)


GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    """The RIB is millions of small acyclic objects: with CPython's default thresholds (700, 10, 10)
    the collector re-walks them over and over during a table load (measured: ingest +25-30%).
    Collections still run, just less often; cycles are rare here."""
    gc.set_threshold(*GC_THRESHOLDS)


def run(config_path: str, noc: NocSide, settle: float = SETTLE) -> int:
    tune_gc()
    config, text = load_text(config_path)
    if not sys.stdin.isatty():
        pipekeeper.start()  # before any thread: ExaBGP must never see EPIPE from a helper that died (pipekeeper.py)
    logging.basicConfig(
        stream=sys.stderr, level=config.agent.log_level.upper(), format="bgpsteer %(levelname)s %(message)s"
    )
    loop = asyncio.new_event_loop()
    slow_ms = os.environ.get("BGPSTEER_SLOW_CALLBACK_MS")
    if slow_ms:  # diagnosis (asyncio debug mode, slower): log every loop callback that held the loop longer than this
        loop.set_debug(True)
        loop.slow_callback_duration = float(slow_ms) / 1000
        _log_slow_collections(loop.slow_callback_duration)
    transport_holder: list[asyncio.WriteTransport] = []

    async def main() -> None:
        transport, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.stdout)
        transport_holder.append(transport)
        agent = Agent(config_path, config, transport.write, settle=settle, noc=noc)
        agent.output_buffer = transport.get_write_buffer_size
        agent.metrics = noc.metrics(agent)
        try:
            agent.open_journal()
        except OSError as exc:
            log.error("decision journal unavailable: %s", exc)
        agent.open_recorder(text)
        agent.restore()
        log.info(
            "started: config %s digest %s, %d cloud peers, %d core routers",
            config_path,
            config.digest,
            len(config.cloud_peers),
            len(config.core_routers),
        )
        for warning in config.warnings:
            log.warning("config: %s", warning)
        await _serve(agent, noc)

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return 0
