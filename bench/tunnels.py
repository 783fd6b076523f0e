"""Failover by tunnel state: how many of the cloud's answers are lost when an egress's tunnel goes down, by cause,
beside the same egress failing silently (found by probes only), in one run; and what a WireGuard rekey does.

In the return-path lab with real WireGuard tunnels (lab/returnlab.py ``tunnel=``: wireguard-go over veth
underlays; ExaBGP + bgpsteer, an FRR core, an FRR TGW reached through both tunnels, fra preferred; probes every
100 ms, fall 3), while the vpc host behind the TGW answers the site at 1,000 datagrams/s (one lost datagram is
one millisecond), egress fra fails by:

- ``link down``: its tunnel device is set down at the route server (``tunnel: {type: interface}``: a netlink
  event);
- ``peer removed``: its WireGuard peer is removed at the route server, as a revoked key (``tunnel: {type:
  wireguard}``, read every 50 ms);
- ``silent blackhole``: the TGW drops everything from us over fra's tunnel, which stays up: only the probes can
  find it (fall 3 x 100 ms).

Per cause: when the core dropped fra's next-hop route and when the TGW's longest match for the site moved to ams
(RIBs polled from the failure, 20 ms apart; each time taken when vtysh's answer is in, so an upper bound by the
tens of ms a vtysh call takes), and the answers lost: the number to compare.  Then, with ``--rekey-seconds`` (WireGuard
rekeys every 120 s while data flows), a stream through both tunnels for that long, started so that fra's rekey
falls in its middle: handshakes bgpsteer saw during it, route changes at the core (fra's and ams's next-hop
routes, polled every 20 ms) and answers lost; and a stream through an IPsec tunnel whose CHILD_SA rekeys every
2 s (its lifetimes made short; ``--rekey-seconds``/8 s of stream, at most 20): the rekeys bgpsteer saw, the
tunnel's changes of state, the datagrams lost.

IPsec SAs deleted at the gateway are measured as the time until bgpsteer reads the tunnel down: with
kernel-libipsec every CHILD_SA of a charon shares one TUN device, so the return lab's two egresses to one gateway
(same traffic selectors) cannot run over IPsec side by side, and no steered packets cross it here.  Prints numbers;
asserts nothing.

    .venv/bin/python bench/tunnels.py --runs 3 --seconds 10 --rekey-seconds 120
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_root, need_some  # noqa: E402
from bgpsteer.core.model import Tunnel  # noqa: E402
from bgpsteer.core.tunnel import TunnelFacts, TunnelState  # noqa: E402
from bgpsteer.tunnels.ipsec import IpsecWatcher  # noqa: E402
from lab.ipsectunnel import ipsec, swanctl  # noqa: E402
from lab.netlab import lab as new_lab  # noqa: E402
from lab.netlab import sh, wait_for  # noqa: E402
from lab.returnlab import INSIDE, SITE, ReturnLab, build  # noqa: E402
from lab.streams import udp_stream  # noqa: E402
from lab.wgtunnel import remove_peer  # noqa: E402

SITE_ADDRESS = "10.100.200.1"
POLL = 0.02
RATE = 1000.0
FRA_NH, AMS_NH = "10.255.0.1/32", "10.255.0.2/32"
REKEY_AFTER = 120.0  # WireGuard's REKEY_AFTER_TIME
STREAM_MAX = 120.0  # lab/udpstream.py's bound on a stream


def _link_down(r: ReturnLab) -> None:
    sh("ip", "link", "set", r.wg["fra"].dev_a, "down", ns=r.lab.ns("rs"))


def _peer_removed(r: ReturnLab) -> None:
    remove_peer(r.lab, r.wg["fra"])


def _blackhole(r: ReturnLab) -> None:
    r.blackhole("fra", True, everything=True)


CAUSES: dict[str, tuple[str, Callable[[ReturnLab], None]]] = {
    "link down": ("interface", _link_down),
    "peer removed": ("wireguard", _peer_removed),
    "silent blackhole": ("interface", _blackhole),
}


def ready(r: ReturnLab) -> None:
    wait_for("the site at the TGW over both tunnels", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
    wait_for("fra preferred", lambda: r.answers_via(SITE_ADDRESS) == [INSIDE["fra"][0]], 30)


def one(cause: str, seconds: float) -> tuple[float | None, float | None, dict[str, Any]]:
    kind, fail_it = CAUSES[cause]
    ams = INSIDE["ams"][0]
    with new_lab() as lb:
        r = build(lb, tunnel=kind)
        ready(r)
        received = r.stream(seconds, RATE)
        t0 = time.monotonic()
        fail_it(r)
        out = back = None
        while time.monotonic() - t0 < seconds and (out is None or back is None):
            # each time is taken when the RIB's answer is in (a vtysh call takes tens of ms): an upper bound
            if out is None and FRA_NH not in r.core.routes():
                out = time.monotonic() - t0
            if back is None and r.answers_via(SITE_ADDRESS) == [ams]:
                back = time.monotonic() - t0
            time.sleep(POLL)
        return out, back, received()


def tunnels(r: ReturnLab) -> dict[str, dict[str, Any]]:
    """Each egress's tunnel as the agent shows it."""
    p = r.ctl("show", "egress", "--json")
    if p.returncode != 0:
        fail(f"show egress failed: {p.stderr.strip()}")
    return {e["egress"]: e["tunnel"] for e in json.loads(p.stdout)["egresses"] if e["tunnel"]}


def rekey(seconds: float) -> tuple[dict[str, int], int, dict[str, Any]]:
    """(handshakes per egress during the stream, next-hop route changes at the core, what the site received).
    WireGuard rekeys once a session is 120 s old and data flows: the stream starts when fra's latest handshake is
    ``120 - seconds / 2`` s old, so its rekey falls mid-stream."""
    with new_lab() as lb:
        r = build(lb, tunnel="wireguard")
        ready(r)
        wait_for(
            "fra's handshake old enough for a rekey mid-stream",
            lambda: (tunnels(r)["fra"]["handshake_age"] or 0) >= REKEY_AFTER - seconds / 2,
            timeout=REKEY_AFTER,
            interval=1.0,
        )
        before = {e: int(t["handshakes"]) for e, t in tunnels(r).items()}
        received = r.stream(seconds, RATE)
        t0 = time.monotonic()
        last = None
        changes = 0
        while time.monotonic() - t0 < seconds:  # bounded by --rekey-seconds (at most 120)
            routes = r.core.routes()
            now = (FRA_NH in routes, AMS_NH in routes)
            changes += last is not None and now != last
            last = now
            time.sleep(POLL)
        after = {e: int(t["handshakes"]) for e, t in tunnels(r).items()}
        return {e: after[e] - before.get(e, 0) for e in after}, changes, received()


def ipsec_deleted(what: str) -> float | None:
    """Seconds from the gateway deleting the SA (``child`` or ``ike``) until bgpsteer's VICI reader reads the
    tunnel down (strongSwan with kernel-libipsec: its ESP carries no steered traffic here, so no packets)."""
    with new_lab() as lb:
        a, b = ipsec(lb, "fra", "rs", "gw", ("192.168.60.1", "192.168.60.2"), ("10.77.0.1", "10.77.0.2"))
        t = Tunnel("ipsec", "", ike="fra", child="fra-c", vici=str(a.vici), interval=0.5)
        state = TunnelState("fra", t, time.monotonic())
        down_at: list[float] = []

        def report(f: TunnelFacts) -> None:
            c = state.observe(f, time.monotonic())
            if c is not None and c.new == "down":
                down_at.append(time.monotonic())

        async def run() -> float | None:
            w = IpsecWatcher(t.vici, {"fra": t}, report, t.interval)
            w.start()
            deadline = time.monotonic() + 30
            while state.status != "up" and time.monotonic() < deadline:  # bounded
                await asyncio.sleep(0.05)
            down_at.clear()  # a down before it came up (no IKE_SA yet) is not the one measured
            t0 = time.monotonic()
            swanctl(b, "--terminate", f"--{what}", "fra-c" if what == "child" else "fra")
            while not down_at and time.monotonic() - t0 < 10:  # bounded
                await asyncio.sleep(0.01)
            w.close()
            return down_at[0] - t0 if down_at else None

        return asyncio.run(run())


def ipsec_rekeys(seconds: float) -> tuple[int, list[str], dict[str, Any]]:
    """A stream through an IPsec tunnel (its inside addresses, 1,000/s) across CHILD_SA rekeys every 2 s and an
    IKE_SA rekey every 7 s: (rekeys bgpsteer's reader saw, the tunnel's changes of state, what arrived)."""
    with new_lab() as lb:
        a, _ = ipsec(lb, "fra", "rs", "gw", ("192.168.60.1", "192.168.60.2"), ("10.77.0.1", "10.77.0.2"), (7, 2, 5))
        t = Tunnel("ipsec", "", ike="fra", child="fra-c", vici=str(a.vici), interval=0.2)
        state = TunnelState("fra", t, time.monotonic())
        changes: list[str] = []

        def report(f: TunnelFacts) -> None:
            c = state.observe(f, time.monotonic())
            if c is not None:
                changes.append(c.new)

        async def run() -> tuple[int, dict[str, Any]]:
            w = IpsecWatcher(t.vici, {"fra": t}, report, t.interval)
            w.start()
            deadline = time.monotonic() + 30
            while state.status != "up" and time.monotonic() < deadline:  # bounded
                await asyncio.sleep(0.05)
            before = state.handshakes
            changes.clear()  # from here on: what the rekeys do (before: its coming up)
            received = udp_stream(
                lb,
                sys.executable,
                sender=("rs", "10.77.0.1"),
                receiver=("gw", "10.77.0.2"),
                port=5001,
                rate=RATE,
                seconds=seconds,
                name="ipsec",
            )
            got = await asyncio.to_thread(received)
            w.close()
            return state.handshakes - before, got

        rekeys, got = asyncio.run(run())
        return rekeys, changes, got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0, help="the stream's length, and the longest wait")
    ap.add_argument(
        "--rekey-seconds", type=float, default=120.0, help="the rekey stream's length (at most 120; 0: skip)"
    )
    ap.add_argument(
        "--causes", default=",".join(CAUSES), help=f"which failures, comma-separated (default: {', '.join(CAUSES)})"
    )
    args = ap.parse_args()
    need_root()
    print(
        f"egress fra fails at t0; RIBs polled every {POLL * 1000:.0f} ms; the cloud's answers at {RATE:.0f} "
        f"datagrams/s; probes every 100 ms, fall 3; {args.runs} run(s) per cause"
    )
    print(f"{'cause':18} {'outbound (core) s':>18} {'return (TGW RIB) s':>19} {'answers lost (ms)':>18}")
    rows = 0
    causes = [c.strip() for c in args.causes.split(",") if c.strip()]
    unknown = [c for c in causes if c not in CAUSES]
    if unknown:
        fail(f"unknown cause(s) {', '.join(unknown)}; known: {', '.join(CAUSES)}")
    for cause in causes:
        outs: list[float] = []
        backs: list[float] = []
        lost: list[int] = []
        for _ in range(args.runs):
            out, back, got = one(cause, args.seconds)
            if out is None:
                fail(f"{cause}: the core never dropped fra's next-hop route")
            need_some("datagrams the site received of the cloud's stream", int(got.get("received", 0)))
            outs.append(out)
            lost.append(int(got["lost"]))
            if back is not None:
                backs.append(back)
            ret = f"{back:.3f}" if back is not None else f">{args.seconds:g} (not yet)"
            print(f"{cause:18} {out:>18.3f} {ret:>19} {got['lost']:>18}")
            rows += 1
        ret = f"{statistics.median(backs):.3f}" if len(backs) == len(outs) else "-"
        print(f"{'  median':18} {statistics.median(outs):>18.3f} {ret:>19} {statistics.median(lost):>18.0f}")
    need_some("rows", rows)
    for what in ("child", "ike"):
        read = [ipsec_deleted(what) for _ in range(args.runs)]
        if None in read:
            fail(f"IPsec: a deleted {what} SA was never read down")
        ms = [x * 1000 for x in read if x is not None]
        print(
            f"IPsec {what.upper()}_SA deleted at the gateway: read down after {statistics.median(ms):.0f} ms "
            f"(median of {len(ms)}; the egress leaves service in the same event, as for a link down)"
        )
    if args.rekey_seconds > 0:
        n, states, got = ipsec_rekeys(min(args.rekey_seconds / 8, 20.0))
        need_some("datagrams received through IPsec", int(got.get("received", 0)))
        print(
            f"IPsec rekeys under a stream: {n} CHILD_SA rekeys seen while {got['received'] + got['lost']} datagrams "
            f"crossed at {RATE:.0f}/s; tunnel state changes meanwhile: {states or 'none'}; "
            f"datagrams lost {got['lost']}"
        )
        hs, changes, got = rekey(min(args.rekey_seconds, STREAM_MAX))
        need_some("datagrams the site received of the rekey stream", int(got.get("received", 0)))
        print(
            f"rekey: {args.rekey_seconds:g} s of answers at {RATE:.0f}/s through WireGuard: handshakes seen "
            f"{', '.join(f'{e} {n}' for e, n in sorted(hs.items()))}; next-hop route changes at the core {changes}; "
            f"answers lost {got['lost']} of {got['received'] + got['lost']}"
        )


if __name__ == "__main__":
    main()
