"""What the NOC side (control socket, queries, metrics) needs of the running agent, and nothing more.

The NOC is typed against this protocol, not against the runtime's Agent: it reads the core through
``CoreView`` (core/view.py) and the ExaBGP pipe through ``PipeCounters``, and changes state only through
the few operations below, which the agent implements once for every caller (socket, signals).

The other way round, the runtime knows the NOC only through ``NocSide`` (the metrics sink, the control socket,
the state dump), which the composition root (cli.py) hands it: this module is the one place the two meet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bgpsteer.core.bounded import BoundedCache
from bgpsteer.core.drift import CorePath, Drift, Tracker
from bgpsteer.core.events import Changed, EgressChanged
from bgpsteer.core.ledger import Ledger
from bgpsteer.core.measure import Sample
from bgpsteer.core.view import CoreView
from bgpsteer.flows.collector import CollectorState


@dataclass(frozen=True, slots=True)
class PipeCounters:
    """ExaBGP's pipe as the agent sees it."""

    malformed_lines: int
    ignored_messages: int
    commands_sent: int
    acks_ok: int
    acks_error: int
    rejected_paths: int  # ExaBGP refused them even alone: never on the core
    unconfirmed_paths: int  # their command got no answer
    missing_acks: int
    extra_acks: int
    previous_helper_acks: int  # acks for commands of a helper process that was killed
    awaiting_ack_routes: int
    deferred_decisions: int
    output_buffer_bytes: int
    loop_lag_max_seconds: float
    loop_stalls: int
    journal_write_errors: int
    recorder_write_errors: int  # flight recorder records lost (runtime/recorder.py)
    reload_failures: int


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """The helper process: which one answers, and how far its start has come."""

    pid: int
    started_at: float
    reconciled: bool  # ExaBGP's adj-RIB-out from before was judged (nothing held from an earlier run is left)
    table_complete_after: float | None  # seconds from start to the whole table announced and acknowledged
    eor_sent_to: tuple[str, ...]  # core routers it sent End-of-RIB to (graceful restart: their stale paths go)
    tcp_md5: dict[str, int]  # the kernel's TCP-MD5 drop counters in its network namespace (runtime/netstat.py)


@dataclass
class CoreDrift:
    """A monitored core router: its last reading, and what differs from intent (core/drift.py)."""

    core: str
    tracker: Tracker
    source: str = "cli"  # what the reading came from: "cli" (what the core holds and uses) or "bmp" (what it holds)
    read_at: float | None = None  # the agent's clock at its last reading (None: none yet)
    error: str = ""  # why the last reading failed ("": it did not)
    pending: int = 0  # differences seen, not yet for the convergence window
    drift: list[Drift] = field(default_factory=list)
    held: Mapping[str, list[CorePath]] = field(default_factory=dict)  # the last reading: prefix -> the core's paths
    resyncs: int = 0  # BMP: sessions ended so that the core sends its table afresh, while differences lasted
    resyncs_total: int = 0  # the same, since the agent started
    resync_at: float | None = None  # when the last one was asked for
    resync_session: int = 0  # the station's session count then: a higher one is a table read since


@dataclass
class CounterState:
    """An egress's utilization read from its interface counter (egresses[].utilization, core/counters.py)."""

    egress: str
    where: str  # e.g. "netlink efra5 in core out", "snmp 10.252.1.2:161 eth1 in"
    mbps: float | None = None  # the last rate (None: none yet, or the last reading gave none)
    why: str = "no reading yet"  # why there is no rate now ("": there is one)
    read_at: float | None = None  # the agent's clock at the last reading, good or not
    rate_at: float | None = None  # ... at the last rate
    readings: int = 0
    failures: int = 0  # readings that failed (unreachable agent, missing device, timeout)
    resets: int = 0  # counter resets seen (a reboot, a device made again, counters cleared)


class AgentPort(Protocol):
    @property
    def view(self) -> CoreView: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def journal_path(self) -> Path: ...

    def runtime(self) -> RuntimeInfo: ...

    def history(self, prefix: str, limit: int) -> list[dict[str, Any]]:
        """The journal's records about one prefix (reads the file: call it off the event loop)."""
        ...

    def clock(self) -> float: ...

    def core_drift(self) -> Mapping[tuple[str, str], CoreDrift]:
        """Monitored core routers by name: what their last reading showed (core/drift.py)."""
        ...

    def counters(self) -> Mapping[str, CounterState]:
        """Egresses whose utilization is read from interface counters, by egress."""
        ...

    def flow_collector(self) -> CollectorState | None:
        """What the flow collector saw (None: steering.relief.flows is not configured)."""
        ...

    def core_sessions(self) -> Mapping[str, str]:
        """core router address -> ExaBGP session state"""
        ...

    def pipe(self) -> PipeCounters: ...

    def caches(self) -> dict[str, BoundedCache[Any, Any]]: ...

    async def reload(self) -> dict[str, Any]:
        """Validate and apply the config file, all or nothing (raises ConfigError, the running policy kept)."""
        ...

    async def drain(self, egress: str, on: bool) -> dict[str, Any]: ...

    def measure(self, egress: str, samples: list[Sample]) -> None:
        """External measurements: one probe round for an egress with probe type external."""
        ...

    def report_load(self, utilization: dict[str, float], volumes: dict[str, float]) -> None:
        """Measured utilization per egress and volume per prefix (Mbit/s), for relief."""
        ...


class MetricsSink(Protocol):
    """What the runtime reports to the metrics exporter as it happens (the rest is read at scrape time)."""

    def record(self, effect: Changed | EgressChanged) -> None: ...

    def lag(self, seconds: float) -> None: ...

    def decision(self, seconds: float) -> None: ...

    async def serve(self, listen: str) -> None: ...


class ControlSocket(Protocol):
    @property
    def path(self) -> Path: ...

    async def start(self) -> None: ...

    def close(self) -> None: ...


class NocSide(Protocol):
    """The NOC's adapters, built for a running agent."""

    def metrics(self, agent: AgentPort) -> MetricsSink: ...

    def control(self, agent: AgentPort, path: str, group: str | None) -> ControlSocket: ...

    def state_dump(self, agent: AgentPort) -> dict[str, Any]:
        """The SIGUSR1 state dump: the NOC's own answers, every announcement, rejected route and explanation."""
        ...
