"""Which class goes into which table on the core, and how its traffic is recognised: one plan every renderer uses.

A class is served by the core when it has at least one core session (``core_routers[].class``); its traffic is put
into the class's own table (a VRF, a routing instance, or on Linux a numbered kernel table) that only that session
fills.  Classes are matched in config order: the first class whose match fits a packet takes it.  Everything else,
and every class without a session, stays in the default table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bgpsteer.core.config import Config
from bgpsteer.core.family import AFI_FAMILY, afi_of
from bgpsteer.core.model import AppClass, CoreRouter

TABLE_BASE = 100  # the first class gets table (and firewall mark) 101


@dataclass(frozen=True)
class ClassPlan:
    app_class: AppClass
    table: int  # Linux kernel table and fwmark; on other cores the VRF's number (route distinguisher)
    sessions: tuple[CoreRouter, ...]
    local_asn: int
    bgpsteer_address: str  # where the class session's neighbour (bgpsteer) is
    hold_time: int

    @property
    def name(self) -> str:
        return self.app_class.name

    @property
    def symbol(self) -> str:
        """The class name as a BIRD symbol (letters, digits, underscores)."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)

    @property
    def vrf(self) -> str:
        return f"BGPSTEER-{self.name.upper()}"

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f for f in ("ipv4", "ipv6") if any(f in s.families for s in self.sessions))

    def destinations(self, family: str) -> tuple[str, ...]:
        return tuple(p for p in self.app_class.destinations if AFI_FAMILY[afi_of(p)] == family)

    @property
    def matches_everything(self) -> bool:
        c = self.app_class
        return not (c.dscp or c.protocols or c.ports or c.prefixes)


@dataclass(frozen=True)
class Plan:
    classes: tuple[ClassPlan, ...]
    unserved: tuple[str, ...]  # classes without a core session: their traffic stays in the default table
    source: str
    next_hops4: tuple[str, ...] = ()  # the egresses' next-hop addresses (NH_E)
    next_hops6: tuple[str, ...] = ()
    multipath: bool = False  # steering.multipath: the class tables load-balance too


def plan(config: Config, table_base: int = TABLE_BASE) -> Plan:
    served: list[ClassPlan] = []
    unserved: list[str] = []
    for c in config.app_classes:
        sessions = tuple(r for r in config.core_routers if r.app_class == c.name)
        if not sessions:
            unserved.append(c.name)
            continue
        first = sessions[0]
        served.append(
            ClassPlan(
                c,
                table_base + len(served) + 1,
                sessions,
                config.agent.local_asn,
                first.local_address or config.agent.local_address or config.agent.router_id,
                config.agent.hold_time,
            )
        )
    return Plan(
        tuple(served),
        tuple(unserved),
        config.source,
        tuple(e.next_hop for e in config.egresses),
        tuple(e.next_hop6 for e in config.egresses if e.next_hop6),
        config.steering.multipath is not None,
    )


def port_ranges(ports: tuple[str, ...]) -> list[tuple[int, int]]:
    out = []
    for p in ports:
        lo, _, hi = p.partition("-")
        out.append((int(lo), int(hi or lo)))
    return out
