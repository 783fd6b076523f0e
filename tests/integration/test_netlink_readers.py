"""The netlink readers (tunnel links: bgpsteer/tunnels/netlink.py; counters: bgpsteer/utilization/netlink.py)
against the kernel: veths in a namespace of their own.

Every change of the link is reported as it happens, however quickly they follow each other (pyroute2's ``get()``
ends after each batch of broadcasts: a watcher that read one batch and then slept lost the changes in between,
and CI caught a tunnel read up while its link was down)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from bgpsteer.core.tunnel import TunnelFacts
from bgpsteer.tunnels.netlink import LinkWatcher
from bgpsteer.utilization.netlink import NetlinkReader
from lab.netlab import lab, sh
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()


async def _until(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded: 10 ms polls
        if pred():
            return True
        await asyncio.sleep(0.01)
    return False


def test_every_link_change_is_reported_and_a_gone_device_or_namespace_is_told_apart() -> None:
    with lab() as lb:
        ns = lb.ns("lw")
        sh("ip", "link", "add", "tun0", "type", "veth", "peer", "name", "tun0p", ns=ns)
        sh("ip", "link", "set", "tun0p", "up", ns=ns)
        sh("ip", "link", "set", "tun0", "up", ns=ns)
        seen: list[TunnelFacts] = []

        def up_states() -> list[bool]:
            out: list[bool] = []
            for f in seen:
                if f.readable and f.present and (not out or out[-1] != f.link_up):
                    out.append(f.link_up)
            return out

        async def run() -> None:
            task = asyncio.ensure_future(LinkWatcher(ns, {"tun0": "fra"}, seen.append).run())
            try:
                assert await _until(lambda: up_states() == [True], 5)
                for i in range(6):  # 6 changes 50 ms apart, faster than a watcher that slept between reads
                    await asyncio.to_thread(sh, "ip", "link", "set", "tun0", "down" if i % 2 == 0 else "up", ns=ns)
                    await asyncio.sleep(0.05)
                want = [True, False, True, False, True, False, True]
                assert await _until(lambda: up_states() == want, 5), up_states()
                await asyncio.to_thread(sh, "ip", "link", "del", "tun0", ns=ns)
                assert await _until(lambda: seen[-1].readable and not seen[-1].present, 2), seen[-1]
                assert "no device tun0" in seen[-1].detail
                await asyncio.to_thread(sh, "ip", "netns", "del", ns)
                lb.namespaces.remove(ns)
                # the namespace is gone: the open socket reads nothing more, and a watcher started now cannot
                # open it: unreadable (unknown), never down
                late: list[TunnelFacts] = []
                t2 = asyncio.ensure_future(LinkWatcher(ns, {"tun0": "fra"}, late.append).run())
                try:
                    assert await _until(lambda: bool(late), 5)
                    assert not late[0].readable
                    assert ns in late[0].detail
                finally:
                    t2.cancel()
            finally:
                task.cancel()

        asyncio.run(run())


def test_the_counter_reader_keeps_no_broadcasts_it_never_reads() -> None:
    """Its socket is kept open between readings; subscribed to the namespace's broadcasts, it queued every route,
    address and link event for ever (measured: 401 after 200 address changes)."""
    with lab() as lb:
        ns = lb.ns("cr")
        sh("ip", "link", "add", "up0", "type", "veth", "peer", "name", "up0p", ns=ns)
        sh("ip", "link", "set", "up0", "up", ns=ns)

        async def run() -> int:
            r = NetlinkReader("up0", ns, "out")
            try:
                first = await r.read(0.0)
                for i in range(100):  # bounded: 100 address changes, each an RTM_NEWADDR broadcast
                    await asyncio.to_thread(sh, "ip", "addr", "add", f"10.9.0.{i + 1}/32", "dev", "up0", ns=ns)
                second = await r.read(1.0)
                assert second.instance == first.instance
                assert r.ipr is not None
                return sum(q.qsize() for q in r.ipr.msg_queue.queues.values())
            finally:
                r.close()

        assert asyncio.run(run()) < 5
