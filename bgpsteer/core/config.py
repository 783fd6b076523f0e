"""The whole configuration: the network (core/model.py) and the import and export policies (core/policy.py).

Apart from model.py because the policy speaks of the model's egresses and peers: one direction of imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from bgpsteer.core.model import (
    AgentSettings,
    AppClass,
    CloudPeer,
    Compliance,
    CoreRouter,
    Egress,
    Safety,
    Site,
    Steering,
)
from bgpsteer.core.policy import Policy


@dataclass(frozen=True)
class Config:
    agent: AgentSettings
    egresses: tuple[Egress, ...]
    cloud_peers: tuple[CloudPeer, ...]
    core_routers: tuple[CoreRouter, ...]
    import_policy: Policy
    export_policy: Policy
    safety: Safety = field(default_factory=Safety)
    compliance: tuple[Compliance, ...] = ()
    steering: Steering = field(default_factory=Steering)
    app_classes: tuple[AppClass, ...] = ()  # the YAML's `classes`
    site: Site | None = None  # the return path: announced to the clouds (None: nothing is)
    return_policy: Policy | None = None  # the YAML's policy.return: applied to every route sent to a cloud
    source: str = ""
    digest: str = ""
    warnings: tuple[str, ...] = ()  # valid but probably not meant (check prints them, run logs them)

    def egress_ids(self) -> list[str]:
        return [e.id for e in self.egresses]

    @cached_property
    def egress_of(self) -> dict[int, str]:
        """Path id -> egress id: how every adapter names the egress of an announced path (once per config)."""
        return {e.path_id: e.id for e in self.egresses}

    @cached_property
    def egress_by_next_hop(self) -> dict[str, str]:
        """NH_E (IPv4 and IPv6) -> egress id: how a core's path is told to be bgpsteer's (core/drift.py)."""
        out = {e.next_hop: e.id for e in self.egresses}
        out.update({e.next_hop6: e.id for e in self.egresses if e.next_hop6})
        return out

    def egress(self, egress_id: str) -> Egress:
        for e in self.egresses:
            if e.id == egress_id:
                return e
        raise KeyError(egress_id)
