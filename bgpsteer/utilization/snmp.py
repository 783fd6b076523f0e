"""An interface's 64-bit octet counters on a remote router by SNMP v2c (pysnmp's asyncio API; numeric OIDs, no
MIB files needed): IF-MIB ``ifHCOutOctets``/``ifHCInOctets`` with ``sysUpTime`` in the same request, so a reboot
is seen even when the counter happens to be higher after it.  An interface given by name is looked up in
``ifName``, then ``ifDescr``, and again whenever its index stops answering (interfaces renumbered after a
reboot)."""

from __future__ import annotations

from typing import Any

from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_walk_cmd,
    get_cmd,
)

from bgpsteer.core.counters import Reading
from bgpsteer.core.model import Utilization
from bgpsteer.utilization.errors import ReadError

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"  # hundredths of a second
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
HC_OCTETS = {"in": "1.3.6.1.2.1.31.1.1.1.6", "out": "1.3.6.1.2.1.31.1.1.1.10"}
BULK_ROWS = 64  # rows asked for per GETBULK while looking an interface up
MISSING = ("NoSuchObject", "NoSuchInstance", "EndOfMibView")


class SnmpReader:
    """Readings of one interface's counter on one SNMP agent."""

    def __init__(self, u: Utilization) -> None:
        assert u.host is not None
        self.u = u
        self.where = f"{u.host}:{u.port}"
        self.if_index = u.if_index
        self.engine: SnmpEngine | None = None
        self.target: Any = None

    async def read(self, now: float) -> Reading:
        if self.target is None:  # set only once made: a read cancelled while making it makes it again next time
            if self.engine is None:
                self.engine = SnmpEngine()
            self.target = await UdpTransportTarget.create(
                (self.u.host, self.u.port), timeout=self.u.timeout, retries=self.u.retries
            )
        if self.if_index is None:
            self.if_index = await self._lookup()
        counter = f"{HC_OCTETS[self.u.direction]}.{self.if_index}"
        values = await self._get(SYS_UPTIME, counter)
        uptime, octets = values
        if type(octets).__name__ in MISSING:
            found = self.if_index
            if self.u.if_index is None:
                self.if_index = None  # look the name up again next time: the index may have changed
            raise ReadError(f"{self.where}: no 64-bit counter {counter} (ifIndex {found}: gone, or no ifHC counters)")
        return Reading(int(octets), now, instance=f"ifIndex {self.if_index}", uptime=int(uptime) / 100)

    async def _get(self, *oids: str) -> list[Any]:
        error, status, index, binds = await get_cmd(
            self.engine,
            CommunityData(self.u.community, mpModel=1),
            self.target,
            ContextData(),
            *(ObjectType(ObjectIdentity(o)) for o in oids),
        )
        if error is not None:
            raise ReadError(f"{self.where}: {error} (within {self.u.timeout:g}s, {self.u.retries} retries)")
        if int(status):
            raise ReadError(f"{self.where}: {status.prettyPrint()} at {binds[int(index) - 1][0] if index else '?'}")
        return [value for _, value in binds]

    async def _lookup(self) -> int:
        """The ifIndex of the interface named ``device``: ifName first, then ifDescr."""
        name = self.u.device
        for table in (IF_NAME, IF_DESCR):
            # GETBULK: a table in one or two round trips, not one per interface (a read is bounded by its interval)
            async for error, status, _, binds in bulk_walk_cmd(
                self.engine,
                CommunityData(self.u.community, mpModel=1),
                self.target,
                ContextData(),
                0,
                BULK_ROWS,
                ObjectType(ObjectIdentity(table)),
                lexicographicMode=False,
            ):
                if error is not None or int(status):
                    raise ReadError(f"{self.where}: looking up interface {name}: {error or status.prettyPrint()}")
                for oid, value in binds:
                    if value.prettyPrint() == name:
                        return int(str(oid).rsplit(".", 1)[1])
        raise ReadError(f"{self.where}: no interface {name!r} in ifName or ifDescr")

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close_dispatcher()
            self.engine = None
        self.target = None
