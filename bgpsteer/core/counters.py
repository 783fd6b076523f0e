"""An interface's octet counter read at intervals, as a rate in Mbit/s (egresses[].utilization).

Pure: each reading comes in with its time; the rate, or why there is none, goes out.  The rules, once:

- the first reading of a counter gives no rate (there is nothing to subtract);
- a counter that goes backwards was reset (the router rebooted, the device was created again, the counters were
  cleared): no rate from that pair, the new value is the new base.  Only 64-bit counters are read
  (IF-MIB ifHCInOctets/ifHCOutOctets; netlink's 64-bit stats): at 100 Gbit/s one wraps after 46 years, so a
  decrease is never a wrap;
- a reading of another instance (another ifIndex for the same name, a lower sysUpTime: a reboot) is a reset too,
  even if its value happens to be higher;
- readings less than ``MIN_GAP`` apart give no rate (a clock step, a doubled reading).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_GAP = 0.05  # seconds


@dataclass(frozen=True, slots=True)
class Reading:
    octets: int
    at: float  # the agent's clock when it was read
    instance: str = ""  # what identifies the counter's lifetime: an ifIndex, a boot (changes mean a reset)
    uptime: float | None = None  # the device's own uptime, seconds, when it tells one (SNMP sysUpTime)


class CounterRate:
    """The rate between consecutive readings of one counter."""

    def __init__(self) -> None:
        self.last: Reading | None = None
        self.resets = 0

    def update(self, r: Reading) -> tuple[float | None, str]:
        """(Mbit/s, "") or (None, why there is no rate from this reading)."""
        last, self.last = self.last, r
        if last is None:
            return None, "first reading: a rate needs two"
        if r.instance != last.instance:
            self.resets += 1
            return None, f"the counter is another instance now ({last.instance} -> {r.instance}): a reset"
        if r.uptime is not None and last.uptime is not None and r.uptime < last.uptime:
            self.resets += 1
            return None, f"the device's uptime went back ({last.uptime:g}s -> {r.uptime:g}s): it restarted"
        if r.octets < last.octets:
            self.resets += 1
            return None, f"the counter went backwards ({last.octets} -> {r.octets}): reset or cleared"
        gap = r.at - last.at
        if gap < MIN_GAP:
            self.last = last  # keep the older base: the next reading spans a real interval
            return None, f"readings {gap:.3f}s apart: too close for a rate"
        return (r.octets - last.octets) * 8 / gap / 1e6, ""
