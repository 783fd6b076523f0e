"""Relief against real congestion (lab/dataplane.py): each egress forwards at most its capacity (an nftables
policer), a collector in the test measures what each egress is offered and what the core forwards per destination
and pushes it every second with `bgpsteer load`, as an existing flow collector would.  Below the threshold nothing
moves; once fra is overloaded its largest movable prefix goes to lon within a bounded time, and the packets the
policer drops fall to (almost) none; the EU-bound prefix never leaves fra (lon is in the UK)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lab.dataplane import DATAPLANE_CONFIG, DataPlane, build, with_relief
from lab.netlab import lab, wait_for
from lab.textedit import yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

CAPACITY_MBPS = 0.4  # per egress; the policer allows the same in bytes/s
POLICER_KBYTES = int(CAPACITY_MBPS * 1e6 / 8 / 1000)
PREFIX_OF = {"other": "10.10.0.0/16", "sovereign": "10.10.8.0/24"}


@pytest.fixture(scope="module")
def dp() -> Iterator[DataPlane]:
    text = yaml_edited(DATAPLANE_CONFIG.read_text(), with_relief(CAPACITY_MBPS))
    with lab() as lb:
        d = build(lb, config_text=text)
        for egress in ("fra", "lon"):
            d.shape(egress, POLICER_KBYTES)
        d.meter_flows()
        wait_for("traffic via fra", lambda: d.core_egress("other") == "fra" and d.core_egress("sovereign") == "fra", 60)
        yield d


class Collector:
    """Rates over the last interval from the counters, pushed to the agent (Mbit/s)."""

    def __init__(self, dp: DataPlane) -> None:
        self.dp = dp
        self.last = self._read()
        self.at = time.monotonic()
        self.history: list[tuple[float, dict[str, float], dict[str, float]]] = []

    def _read(self) -> dict[str, int]:
        out = {f"{e}.{k}": v for e in ("fra", "lon") for k, v in self.dp.shaper(e).items()}
        out.update({f"flow.{k}": v for k, v in self.dp.flow_bytes().items()})
        return out

    def push(self, report: bool = True) -> tuple[dict[str, float], dict[str, float]]:
        now, cur = time.monotonic(), self._read()
        dt = max(now - self.at, 1e-3)
        rate = {k: (cur[k] - self.last.get(k, 0)) * 8 / dt / 1e6 for k in cur}
        self.last, self.at = cur, now
        util = {e: rate[f"{e}.offered"] for e in ("fra", "lon")}
        volumes = {p: rate[f"flow.{k}"] for k, p in PREFIX_OF.items()}
        args = [f"--egress={e}={v:.4f}" for e, v in util.items()] + [
            f"--prefix={p}={v:.4f}" for p, v in volumes.items()
        ]
        if report:
            p = self.dp.cli("load", *args)
            assert p.returncode == 0, p.stderr
        drops = {e: rate[f"{e}.dropped"] for e in ("fra", "lon")}
        self.history.append((now, util, drops))
        return util, drops


def run_for(c: Collector, seconds: float, until: object = None, report: bool = True) -> float | None:
    """Measure (and push) once a second for up to ``seconds``; the time ``until()`` first held (None: never)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(1.0)
        c.push(report)
        if callable(until) and until():
            return time.monotonic() - start
    return None


def test_below_the_threshold_nothing_moves(dp: DataPlane) -> None:
    # 2 x 150 packets/s of ~110 bytes: ~0.26 Mbit/s on fra, 66 % of its 0.4
    wait = dp.traffic(8.0, rate=150.0, kinds=("other", "sovereign"))
    c = Collector(dp)
    run_for(c, 6.0)
    wait()
    loads = [u["fra"] for _, u, _ in c.history[1:]]
    assert loads
    assert all(0.15 < u < 0.32 for u in loads), loads  # measured below the 80 % threshold
    assert dp.core_egress("other") == "fra"
    assert dp.cli_json("explain", "10.10.0.0/16")["relief"] is None
    assert max(d["fra"] for _, _, d in c.history[1:]) < 0.01  # nothing dropped


def test_congestion_on_an_egress_is_relieved_and_its_drops_stop(dp: DataPlane) -> None:
    # 2 x 300 packets/s: ~0.53 Mbit/s offered to fra's 0.4: the policer drops about a quarter
    wait = dp.traffic(32.0, rate=300.0, kinds=("other", "sovereign"))
    c = Collector(dp)
    # the collector not yet reporting: congestion as it is without relief (the policer's bucket starts full)
    run_for(c, 10.0, until=lambda: len(c.history) > 2 and c.history[-1][2]["fra"] > 0.03, report=False)
    run_for(c, 2.0, report=False)
    congested = [d["fra"] for _, _, d in c.history[-2:]]
    moved_after = run_for(c, 15.0, until=lambda: dp.core_egress("other") == "lon")
    assert moved_after is not None, c.history
    run_for(c, 3.0)
    wait()
    relieved = [d["fra"] for _, _, d in c.history[-2:]]
    assert congested
    assert max(congested) > 0.05, c.history  # real drops while overloaded (Mbit/s dropped)
    assert max(relieved) < 0.1 * max(congested), c.history
    assert max(d["lon"] for _, _, d in c.history[-2:]) < 0.01  # lon took the prefix within its capacity
    assert dp.core_egress("sovereign") == "fra"  # EU-bound: never to the UK, congested or not
    x = dp.cli_json("explain", "10.10.0.0/16")
    assert (x["relief"]["from"], x["relief"]["to"]) == ("fra", "lon")
    print(f"relieved {moved_after:.1f} s after the overload began (hold 1 s, reports every 1 s)")
