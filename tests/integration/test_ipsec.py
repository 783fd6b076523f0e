"""The IPsec tunnel input on real strongSwan (lab/ipsectunnel.py: charon with kernel-libipsec in two namespaces):
bgpsteer's VICI reader (bgpsteer/tunnels/ipsec.py) feeding the core's tunnel state (core/tunnel.py).  Rekeys move
nothing; a deleted CHILD_SA or IKE_SA is down at once; charon gone is unknown, and back is read again."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from bgpsteer.core.model import Tunnel
from bgpsteer.core.tunnel import TunnelChange, TunnelFacts, TunnelState
from bgpsteer.tunnels.ipsec import IpsecWatcher
from lab.ipsectunnel import IpsecEnd, ipsec, swanctl
from lab.netlab import Lab, lab, sh
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("swanctl", "/usr/sbin/charon-systemd")

REKEY = (7, 2, 5)  # IKE rekey, CHILD rekey, CHILD life (s): rekeys every few seconds to watch


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[Lab, IpsecEnd, IpsecEnd]]:
    with lab() as lb:
        a, b = ipsec(lb, "fra", "rs", "gw", ("192.168.60.1", "192.168.60.2"), ("10.77.0.1", "10.77.0.2"), REKEY)
        yield lb, a, b


class Watched:
    """The reader in a loop of its own, every reading into the core's state for egress fra, with its time."""

    def __init__(self, end: IpsecEnd) -> None:
        self.tunnel = Tunnel("ipsec", "", ike="fra", child="fra-c", vici=str(end.vici), interval=0.2)
        self.state = TunnelState("fra", self.tunnel, time.monotonic())
        self.changes: list[tuple[float, TunnelChange]] = []
        self.readings: list[TunnelFacts] = []

    def status(self) -> str:
        return self.state.status

    def report(self, f: TunnelFacts) -> None:
        self.readings.append(f)
        c = self.state.observe(f, time.monotonic())
        if c is not None:
            self.changes.append((time.monotonic(), c))

    def run_until(self, status: str, seconds: float, handshakes: int = 0) -> None:
        """Read for at most ``seconds`` (bounded), or until the state is ``status`` with so many handshakes seen."""

        def done() -> bool:
            return self.state.status == status and self.state.handshakes >= handshakes

        async def main() -> None:
            w = IpsecWatcher(self.tunnel.vici, {"fra": self.tunnel}, self.report, self.tunnel.interval)
            w.start()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not done():
                await asyncio.sleep(0.05)
            w.close()

        asyncio.run(main())


def test_rekeys_move_nothing_and_are_counted(pair: tuple[Lab, IpsecEnd, IpsecEnd]) -> None:
    _, a, _ = pair
    w = Watched(a)
    w.run_until("up", 40, handshakes=5)
    assert w.status() == "up", w.state.why
    assert w.state.handshakes >= 5  # the first CHILD_SA and four CHILD rekeys (every 2 s), the IKE rekey at 7 s
    assert [c.new for _, c in w.changes] == ["up"]  # from unknown to up once; no rekey moved anything
    assert w.state.expires_in is not None
    assert w.state.expires_in <= REKEY[2]


def test_a_deleted_child_sa_and_a_deleted_ike_sa_are_down_at_once(pair: tuple[Lab, IpsecEnd, IpsecEnd]) -> None:
    _, a, b = pair
    for what in (["--child", "fra-c"], ["--ike", "fra"]):
        w = Watched(a)
        w.run_until("up", 20)
        assert w.status() == "up"
        t0 = time.monotonic()
        swanctl(b, "--terminate", *what)  # the gateway deletes the SA
        w.run_until("down", 10)
        assert w.status() == "down", w.state.why
        at = next(t for t, c in w.changes if c.new == "down")
        print(f"{what[0][2:]} SA deleted at the gateway: read down after {(at - t0) * 1000:.0f} ms")
        assert "IKE_SA" in w.state.why
        swanctl(a, "--initiate", "--child", "fra-c")
        w.run_until("up", 20)
        assert w.status() == "up"


def test_charon_gone_is_unknown_and_back_is_read_again(pair: tuple[Lab, IpsecEnd, IpsecEnd]) -> None:
    lb, a, _ = pair
    w = Watched(a)
    w.run_until("up", 20)
    pids = sh("ip", "netns", "pids", lb.ns("rs")).split()
    charon = [p for p in pids if "charon" in open(f"/proc/{p}/cmdline").read()]
    assert charon
    for p in charon:
        os.kill(int(p), signal.SIGKILL)
    w.run_until("unknown", 10)
    assert w.status() == "unknown"  # not down: nothing says the tunnel is gone, only that it cannot be read
    assert "VICI" in w.state.why
