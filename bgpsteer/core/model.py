"""The network as the configuration describes it: egresses, peers, settings.

Plain immutable data; the config loader builds it, the core reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bgpsteer.core.policy import Policy

Family = Literal["ipv4", "ipv6"]
FAMILY_AFI: dict[str, int] = {"ipv4": 4, "ipv6": 6}
AFI_FAMILY: dict[int, Family] = {4: "ipv4", 6: "ipv6"}
MaxPrefixAction = Literal["warn", "stop", "teardown"]


@dataclass(frozen=True)
class Egress:
    id: str
    region: str
    jurisdiction: str
    cost_per_gb: float
    next_hop: str
    path_id: int
    next_hop6: str | None = None

    def next_hop_for(self, afi: int) -> str | None:
        return self.next_hop if afi == 4 else self.next_hop6


@dataclass(frozen=True)
class MaxPrefix:
    limit: int
    action: MaxPrefixAction = "stop"


@dataclass(frozen=True)
class CloudPeer:
    name: str
    address: str
    asn: int
    egress: str
    provider: str
    region: str
    families: tuple[Family, ...] = ("ipv4",)
    local_address: str | None = None
    password: str | None = None
    max_prefix: MaxPrefix | None = None
    description: str = ""


@dataclass(frozen=True)
class CoreRouter:
    name: str
    address: str
    asn: int
    families: tuple[Family, ...] = ("ipv4",)
    local_address: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class Safety:
    """RFC 7454 import hygiene, applied before the import policy."""

    reject_special_purpose: bool = True
    reject_private: bool = False
    allow_default: bool = False
    max_length_v4: int = 24
    max_length_v6: int = 48
    reject_martian_next_hop: bool = True
    default_max_prefix: MaxPrefix | None = None


@dataclass(frozen=True)
class Agent:
    local_asn: int
    router_id: str
    local_address: str | None = None
    hold_time: int = 90
    log_level: str = "info"
    state_dir: str = "/var/lib/bgpsteer"


@dataclass(frozen=True)
class Config:
    agent: Agent
    egresses: tuple[Egress, ...]
    cloud_peers: tuple[CloudPeer, ...]
    core_routers: tuple[CoreRouter, ...]
    import_policy: Policy
    export_policy: Policy
    safety: Safety = field(default_factory=Safety)
    source: str = ""
    digest: str = ""

    def egress(self, egress_id: str) -> Egress:
        for e in self.egresses:
            if e.id == egress_id:
                return e
        raise KeyError(egress_id)
