"""BMP ingest: what the agent's BMP station costs while a core floods it with its table, beside the agent's own
work, and whether the agent's event loop stays within its 100 ms stall bound meanwhile.

Runs the real helper (``python -m bgpsteer run``) with ``core_routers[].monitor.bmp`` on loopback, plays ExaBGP
on its pipe (bench/stall.py's method: one-page stdin, a 4 KB line every 10 ms; the longest write is the longest
time the helper left its pipe unread), loads ``--prefixes`` prefixes from two cloud peers, then plays an FRR 8.4
core on the BMP session: initiation, peer up (empty OPENs, as FRR 8.4 sends them), one post-policy route
monitoring message per prefix and egress (as FRR sends each path of an ADD-PATH session), End-of-RIB.  Measured:
the flood's time until ``verify`` reads the BMP table as whole, the helper's CPU seconds and RSS growth for it,
the longest pipe stall during the flood and during the comparisons that follow (every ``interval``), and, in the
same run, ExaBGP's own parser on the same UPDATEs in this process (the ceiling: the station adds framing and its
table).  Prints numbers; compares none with a threshold.

    python bench/bmp.py --prefixes 100000
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.helpers.guard import fail, need_some  # noqa: E402
from bench.helpers.pipe import update_line  # noqa: E402
from bench.stall import CONFIG, PEERS, Helper  # noqa: E402
from bgpsteer.noc.client import CtlError, call  # noqa: E402

NEXT_HOPS = ("10.255.0.1", "10.255.0.2")  # fra, ams in bench/stall.py's config
INTERVAL = 2.0


def _peer_header(post_policy: bool) -> bytes:
    addr = bytes(12) + ipaddress.IPv4Address("10.250.0.1").packed
    return struct.pack("!BB8s16sI4sII", 0, 0x40 if post_policy else 0, bytes(8), addr, 65000, addr[12:], 0, 0)


def _bmp(kind: int, body: bytes) -> bytes:
    return struct.pack("!BIB", 3, 6 + len(body), kind) + body


def _update(prefix: str, next_hop: str, local_pref: int) -> bytes:
    net = ipaddress.IPv4Network(prefix)
    nlri = bytes([net.prefixlen]) + net.network_address.packed[: (net.prefixlen + 7) // 8]
    attrs = (
        b"\x40\x01\x01\x00"  # ORIGIN igp
        + b"\x40\x02\x00"  # AS_PATH empty (iBGP)
        + b"\x40\x03\x04"
        + ipaddress.IPv4Address(next_hop).packed
        + b"\x40\x05\x04"
        + struct.pack("!I", local_pref)
    )
    body = struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


def flood(prefixes: list[str], local_prefs: dict[str, tuple[int, int]]) -> tuple[bytes, list[bytes]]:
    """The whole BMP session as an FRR 8.4 core sends it holding what bgpsteer sent (``local_prefs`` per egress,
    by the prefix's first octet: the policy sets them by prefix), and the UPDATEs inside (for ExaBGP's parser)."""
    empty_open = b"\xff" * 16 + struct.pack("!HB", 19, 1)
    out = [_bmp(4, struct.pack("!HH", 2, 4) + b"core")]
    out.append(
        _bmp(
            3,
            _peer_header(False) + bytes(12) + bytes([10, 250, 0, 2]) + struct.pack("!HH", 179, 40000) + empty_open * 2,
        )
    )
    updates = []
    rm = _peer_header(True)
    for p in prefixes:
        for nh, lp in zip(NEXT_HOPS, local_prefs[p.split(".", 1)[0]], strict=True):
            u = _update(p, nh, lp)
            updates.append(u)
            out.append(_bmp(0, rm + u))
    out.append(_bmp(0, rm + b"\xff" * 16 + struct.pack("!HB", 23, 2) + bytes(4)))  # End-of-RIB
    return b"".join(out), updates


def sent_local_prefs(sock: str, prefix: str) -> tuple[int, int]:
    """The LOCAL_PREF bgpsteer sends per egress for this prefix (and every other with its first octet)."""
    r = call(sock, "routes", timeout=120, target=prefix)
    by_egress = {p["egress"]: p["local_pref"] for p in r["routes"][0]["paths"]}
    if set(by_egress) != {"fra", "ams"}:
        fail(f"{prefix} is not announced via both egresses: {by_egress}")
    return by_egress["fra"], by_egress["ams"]


def exabgp_rate(updates: list[bytes]) -> float:
    from bgpsteer.monitor.bmp import bgp

    t0 = time.perf_counter()
    for u in updates:
        bgp.update(u)
    return len(updates) / (time.perf_counter() - t0)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bmp_state(sock: str) -> dict[str, Any]:
    try:
        r = call(sock, "verify", timeout=120)
    except CtlError as exc:
        fail(f"the helper's control socket does not answer: {exc}")
    return next(c for c in r["cores"] if c["source"] == "bmp")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefixes", type=int, default=100_000, help="prefixes (each announced via both egresses)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--port", type=int, default=0, help="the station's port on 127.0.0.1 (0: a free one)")
    args = ap.parse_args()
    if not args.port:
        with socket.socket() as probe:  # a port free now; the helper binds it a moment later
            probe.bind(("127.0.0.1", 0))
            args.port = probe.getsockname()[1]
    tmp = Path(tempfile.mkdtemp(prefix="bgpsteer-bmp-"))
    cfg = tmp / "bmp.yaml"
    station = f"{{{{listen: 127.0.0.1, port: {args.port}, allow: [127.0.0.1]}}}}"  # the bench plays the core
    monitor = f"monitor: {{{{bmp: {station}, interval: {INTERVAL}, window: 10}}}}"
    text = CONFIG.replace(
        "  - {{name: core1, address: 10.250.0.2, asn: 65000}}",
        "  - {{name: core1, address: 10.250.0.2, asn: 65000, " + monitor + "}}",
    )
    if text == CONFIG:
        fail("bench/stall.py's config has no core1 line to add the BMP monitor to")
    cfg.write_text(text.format(state=tmp / "state"))
    sock = str(tmp / "state" / "control.sock")
    h = Helper(ROOT, cfg, args.python)
    try:
        h.write(
            "".join(
                '{"exabgp": "5.0.0", "type": "state", "neighbor": {"address": {"local": "x", "peer": "'
                + p
                + '"}, "state": "up"}}\n'
                for p in ["10.250.0.2", *(p for p, _ in PEERS)]
            )
        )
        prefixes = [f"{44 + (i >> 16)}.{(i >> 8) & 0xFF}.{i & 0xFF}.0/24" for i in range(args.prefixes)]
        for peer, asn in PEERS:
            for i in range(0, len(prefixes), 500):
                h.write(update_line(peer, asn, prefixes[i : i + 500], (asn,), 10) + "\n")
        h.wait_socket(sock)
        deadline = time.time() + 900
        while h.check(sock).get("routes", {}).get("received", 0) < 2 * len(prefixes):
            if time.time() > deadline:
                fail("the helper did not take the routes in within 900 s")
            time.sleep(1.0)
        need_some("paths loaded into the helper", h.check(sock)["routes"]["received"])
        firsts = {p.split(".", 1)[0]: p for p in reversed(prefixes)}  # one prefix per first octet
        stream, updates = flood(prefixes, {octet: sent_local_prefs(sock, p) for octet, p in firsts.items()})
        threading.Thread(target=h.pad, daemon=True).start()
        time.sleep(2 * INTERVAL)
        quiet_from = time.perf_counter()
        time.sleep(2 * INTERVAL)
        quiet = h.longest(quiet_from, time.perf_counter())
        cpu0, rss0 = cpu_seconds(h.proc.pid), h.rss_mb()
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", args.port), timeout=30) as s:
            s.settimeout(None)  # the station reads as fast as it parses: the whole stream takes that long
            sender_done: list[float] = []

            def send() -> None:
                s.sendall(stream)
                sender_done.append(time.perf_counter())

            threading.Thread(target=send, daemon=True).start()
            deadline = time.time() + 900
            while (state := bmp_state(sock))["error"] or state["read_ago_s"] is None:
                h.alive()
                if "cannot listen" in state["error"] or "refused" in state["error"]:
                    fail(state["error"])
                if time.time() > deadline:
                    fail(f"the BMP table was not whole within 900 s: {state['error']}")
                time.sleep(0.2)
            whole = time.perf_counter()
            sent = sender_done[0] if sender_done else whole
            cpu1, rss1 = cpu_seconds(h.proc.pid), h.rss_mb()
            during = h.longest(t0, whole)
            time.sleep(3 * INTERVAL)  # comparisons of the whole table, every interval
            after = h.longest(whole, time.perf_counter())
            cpu2 = cpu_seconds(h.proc.pid)
            final = bmp_state(sock)
        need_some("BMP messages", len(updates))
        rate = exabgp_rate(updates)
        n = len(updates)
        print(
            f"{len(prefixes):,} prefixes x {len(NEXT_HOPS)} egresses: {n:,} route monitoring messages, "
            f"{len(stream) / 1e6:.1f} MB; sent in {sent - t0:.1f} s"
        )
        print(
            f"table whole after {whole - t0:.1f} s: {n / (whole - t0):,.0f} messages/s; helper CPU "
            f"{cpu1 - cpu0:.1f} s ({n / max(cpu1 - cpu0, 1e-9):,.0f} messages per CPU second); "
            f"RSS {rss0:,.0f} -> {rss1:,.0f} MB (+{rss1 - rss0:,.0f})"
        )
        print(f"ExaBGP's parser alone on the same UPDATEs, this process: {rate:,.0f} messages/s")
        print(
            f"longest pipe stall: quiet {quiet * 1000:.0f} ms; during the flood {during * 1000:.0f} ms; "
            f"during {3 * INTERVAL:.0f} s of comparisons (every {INTERVAL:g} s) {after * 1000:.0f} ms, "
            f"helper CPU {cpu2 - cpu1:.1f} s"
        )
        print(
            f"drift found (expected 0: what was sent is what the core reports): {len(final['drift'])}; "
            f"pending {final['pending']}"
        )
    finally:
        h.stop_padding.set()
        h.stop()


if __name__ == "__main__":
    main()
