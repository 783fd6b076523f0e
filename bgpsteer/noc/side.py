"""The NOC's adapters for a running agent (noc/port.py's NocSide): what the composition root hands the runtime."""

from __future__ import annotations

from typing import Any

from bgpsteer.noc import queries
from bgpsteer.noc.metrics import Metrics
from bgpsteer.noc.port import AgentPort, ControlSocket, MetricsSink
from bgpsteer.noc.server import ControlServer


class Noc:
    def metrics(self, agent: AgentPort) -> MetricsSink:
        return Metrics(agent)

    def control(self, agent: AgentPort, path: str, group: str | None) -> ControlSocket:
        return ControlServer(agent, path, group)

    def state_dump(self, agent: AgentPort) -> dict[str, Any]:
        return queries.state_dump(agent)


NOC = Noc()
