"""What the agent's parts (noc_side.py, slicing.py, persistence.py, startup.py, reloading.py) need of the agent
they are part of.

runtime/agent.py composes them into one ``Agent``; each part's methods take ``self`` as this protocol, so a part
names what it uses and mypy checks the ``Agent`` provides it.  It extends the NOC's port: the state dump hands
the agent to the NOC.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from bgpsteer.core.config import Config
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Change, Effect, Withdraw
from bgpsteer.core.inputs import Input
from bgpsteer.core.measure import Sample
from bgpsteer.core.reconcile import Held, Reconciler
from bgpsteer.exabgp.codec import Decoder
from bgpsteer.flows.collector import FlowCollector
from bgpsteer.monitor.runner import MonitorRunner
from bgpsteer.noc.port import AgentPort, CoreDrift, CounterState, MetricsSink, NocSide
from bgpsteer.probes.runner import ProbeRunner
from bgpsteer.runtime.journal import Journal
from bgpsteer.runtime.recorder import Recorder
from bgpsteer.tunnels.runner import TunnelRunner
from bgpsteer.utilization.runner import UtilizationRunner


class Host(AgentPort, Protocol):
    engine: Engine
    clock: Callable[[], float]
    config_path: str
    journal: Journal | None
    recorder: Recorder | None
    noc: NocSide | None
    probes: ProbeRunner | None
    tunnels: TunnelRunner | None
    reload_failures: int
    taps: list[list[Change]]
    settle: float
    started_at: float
    converged: bool
    table_complete_after: float | None
    eor_sent_to: list[str]
    core_state: dict[str, str]
    drift_state: dict[tuple[str, str], CoreDrift]
    monitors: MonitorRunner | None
    utilization: UtilizationRunner | None
    counter_state: dict[str, CounterState]
    flows: FlowCollector | None
    reconciler: Reconciler | None
    reconcile_waiting: frozenset[str] | None
    decoder: Decoder
    lines_since_flush: int
    window_routes: int
    deferred_flushes: int
    commands_sent: int
    malformed: int
    ignored: int
    previous_acks: int
    loop_lag_max: float
    loop_stalls: int
    chunk: int | None
    more: Callable[[], None] | None
    timer: Callable[[], float]
    output_buffer: Callable[[], int]
    metrics: MetricsSink | None
    gc_paused_at: float | None

    @property
    def state_path(self) -> Path: ...

    def feed(self, inp: Input, now: float, record: bool = True) -> list[Effect]: ...

    def apply(self, effects: list[Effect]) -> None: ...

    def schedule(self) -> None: ...

    def flush(self, force: bool = False) -> None: ...

    async def settled(self, timeout: float = ...) -> int: ...

    def send_barrier(self, line: str, on_sent: Callable[[], None] | None = None) -> None: ...

    def send_effect(self, e: Announce | Withdraw, neighbor: str) -> None: ...

    def send_eor(self, address: str) -> None: ...

    def refresh_site_learning(self, address: str | None = None) -> None: ...

    def send_return_path(self, held: list[Held]) -> None: ...

    def dump(self) -> Path: ...

    def save_state(self) -> None: ...

    def gc_pass(self, dirty: int) -> None: ...

    def on_probe(self, egress: str, samples: list[Sample], pushed: bool = False) -> None: ...

    async def validate_forked(self) -> None: ...

    def apply_config(self, config: Config, text: str | None = None) -> None: ...
