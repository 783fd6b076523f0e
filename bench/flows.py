"""Flow collector benchmark: what one core decodes and adds up, and what a flood costs the agent's event loop.

Measured, on NetFlow v9 datagrams of 30 records each (the size softflowd and routers send near a 1,500-byte MTU),
destinations spread over a RIB of ``--prefixes`` prefixes (/24s and /16s, some addresses outside every prefix):

- flows/s decoded (flows/decode.py only), and decoded + matched to the longest prefix + added to the window
  (what the collector does per datagram), beside the socket's own receive rate for the same datagrams (recvfrom
  and nothing else) and the decode rate of softflowd 1.1.0's real captured output (tests/data/flows);
- the prefix matcher's build time (off the loop, in a thread) and one rates() call over a full window;
- a flood: ``--flood`` datagrams sent over loopback as fast as one sender can to a FlowCollector running in an
  asyncio loop, with a 10 ms ticker on the same loop: datagrams read vs dropped (queue full) and the loop's
  longest hold (the ticker's worst lateness), against the agent's 100 ms stall bound.

    python bench/flows.py --prefixes 100000

Only loopback is used; the flood is bounded in count and in time.  Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.helpers.guard import fail, need_some
from bgpsteer.core.flowvolume import PrefixMatch, VolumeWindow
from bgpsteer.core.model import FlowExporter, Flows
from bgpsteer.flows.collector import FlowCollector
from bgpsteer.flows.decode import Decoder

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 30
# (IE, length): src addr, dst addr, octets, packets, protocol, src port, dst port, first/last switched
FIELDS = ((8, 4), (12, 4), (1, 4), (2, 4), (4, 1), (7, 2), (11, 2), (22, 4), (21, 4))
RECORD = struct.Struct("!IIIIBHHII")
TEMPLATE_ID = 256
FIRST = (10, 100, 172, 185)  # the /8s the RIB's /24s lie in (in memory only: no traffic goes anywhere)


SENDER = """
import socket, struct, sys, time
path, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
blob, grams, at = open(path, "rb").read(), [], 0
while at < len(blob):
    (n,) = struct.unpack_from("!H", blob, at)
    grams.append(blob[at + 2 : at + 2 + n])
    at += 2 + n
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.sendto(grams[0], ("127.0.0.1", port))
data, sent, t0 = grams[1:], 0, time.perf_counter()
while sent < count and time.perf_counter() - t0 < seconds:
    tx.sendto(data[sent % len(data)], ("127.0.0.1", port))
    sent += 1
print(sent)
"""


def rib(n: int, rng: random.Random) -> list[str]:
    """n distinct prefixes (at most about 1M): /24s under four /8s, and /16s under 10/8 among them (nested)."""
    if n > 4 * 65536:
        fail(f"--prefixes {n}: at most {4 * 65536}")
    out: set[str] = set()
    i = 0
    while len(out) < n:
        i += 1
        if i % 20 == 0 and i < 20 * 256:
            out.add(f"10.{rng.randrange(256)}.0.0/16")
        else:
            out.add(f"{rng.choice(FIRST)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
    return sorted(out)


def destinations(prefixes: list[str], n: int, rng: random.Random) -> list[int]:
    """n destination addresses: 95% inside a RIB prefix, 5% in 192.0.2.0/24 (no prefix: unmatched)."""
    out = []
    for _ in range(n):
        if rng.random() < 0.05:
            out.append(0xC0000200 | rng.randrange(256))
            continue
        net, _, _ = rng.choice(prefixes).partition("/")
        a, b, c, _ = (int(x) for x in net.split("."))
        out.append((a << 24) | (b << 16) | (c << 8) | rng.randrange(1, 255))
    return out


def header(count: int, seq: int) -> bytes:
    return struct.pack("!HHIIII", 9, count, 1000, int(time.time()), seq, 1)


def template() -> bytes:
    body = struct.pack("!HH", TEMPLATE_ID, len(FIELDS)) + b"".join(struct.pack("!HH", t, n) for t, n in FIELDS)
    return header(1, 0) + struct.pack("!HH", 0, 4 + len(body)) + body


def data(dsts: list[int], seq: int) -> bytes:
    body = b"".join(RECORD.pack(0x0A330002, d, 1500, 1, 6, 40000, 443, 0, 1000) for d in dsts)
    body += b"\0" * (-len(body) % 4)
    return header(len(dsts), seq) + struct.pack("!HH", TEMPLATE_ID, 4 + len(body)) + body


def datagrams(dsts: list[int]) -> list[bytes]:
    return [data(dsts[i : i + RECORDS], i // RECORDS + 1) for i in range(0, len(dsts), RECORDS)]


def decode_rate(grams: list[bytes], passes: int) -> tuple[float, int]:
    best, flows = float("inf"), 0
    for _ in range(passes):
        dec = Decoder()
        dec.feed("10.0.0.1", 2055, template(), 0.0)
        t0 = time.perf_counter()
        flows = sum(len(dec.feed("10.0.0.1", 2055, g, 1.0)) for g in grams)
        best = min(best, time.perf_counter() - t0)
    return flows / best, flows


def full_rate(grams: list[bytes], match: PrefixMatch, passes: int) -> tuple[float, int]:
    """Decode, longest match and window, as the collector's reader does per datagram."""
    best, unmatched, flows = float("inf"), 0, 0
    for _ in range(passes):
        dec, window = Decoder(), VolumeWindow(10.0)
        dec.feed("10.0.0.1", 2055, template(), 0.0)
        lookup, add = match.lookup, window.add
        t0 = time.perf_counter()
        flows = 0
        for i, g in enumerate(grams):
            out = dec.feed("10.0.0.1", 2055, g, 1.0 + i / 1000)
            flows += len(out)
            for f in out:
                add(lookup(f.dst, f.v6), f.octets, 1.0 + i / 1000)
        best = min(best, time.perf_counter() - t0)
        unmatched = window.unmatched
    return flows / best, unmatched


def recv_rate(grams: list[bytes]) -> float:
    """The socket alone: datagrams/s received over loopback with nothing done with them (one sender, blocking)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(1.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got, t0 = 0, time.perf_counter()
    try:
        for g in grams:  # in lockstep: each datagram sent, then read, so none is lost to a full buffer
            tx.sendto(g, rx.getsockname())
            rx.recv(65535)
            got += 1
    except TimeoutError:
        pass
    finally:
        rx.close()
        tx.close()
    return got / (time.perf_counter() - t0)


def captured() -> tuple[float, int]:
    """softflowd's real output: decode rate (flows/s) over every captured file, fed again and again."""
    files = sorted((ROOT / "tests" / "data" / "flows").glob("*/*.bin"))
    grams = [f.read_bytes() for f in files]
    need_some("captured datagrams in tests/data/flows", grams)
    dec = Decoder()
    for g in grams:  # templates first
        dec.feed("10.0.0.1", 2055, g, 0.0)
    t0, flows, n = time.perf_counter(), 0, 0
    while time.perf_counter() - t0 < 0.5:
        for g in grams:
            flows += len(dec.feed("10.0.0.1", 2055, g, 1.0))
            n += 1
    return flows / (time.perf_counter() - t0), n


async def flood(grams: list[bytes], prefixes: list[str], count: int, seconds: float) -> dict[str, float]:
    reports: list[dict[str, float] | None] = []
    collector = FlowCollector(reports.append, lambda: prefixes)
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    collector.start(Flows("127.0.0.1", (FlowExporter("127.0.0.1"),), port=port, window=10.0, interval=0.5))
    assert collector.starting is not None
    await collector.starting
    if collector.state.error:
        fail(collector.state.error)
    built = time.perf_counter() + 60
    while collector.matched_size != len(prefixes):  # the matcher is built in a thread: wait for it (bounded)
        if time.perf_counter() > built:
            fail("the collector's prefix matcher was not built within 60 s")
        await asyncio.sleep(0.05)
    lateness = [0.0]

    async def ticker() -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.01)
            lateness[0] = max(lateness[0], time.perf_counter() - t - 0.01)

    tick = asyncio.ensure_future(ticker())
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        # the template first, then the data, each with its length in front
        f.write(b"".join(struct.pack("!H", len(g)) + g for g in [template(), *grams]))
        f.flush()
        # another process, as another host would be: the flood does not share this interpreter's lock
        t0 = time.perf_counter()
        sender = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, f.name, str(port), str(count), str(seconds), stdout=asyncio.subprocess.PIPE
        )
        out, _ = await sender.communicate()
        took = time.perf_counter() - t0
    sent = int(out or b"0")
    deadline = time.perf_counter() + 10
    while collector.queue and time.perf_counter() < deadline:  # let the queue drain (bounded)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)  # one report
    tick.cancel()
    e = collector.state.exporters["127.0.0.1"]
    read, dropped = e.datagrams - 1, collector.state.flooded  # less the template
    await collector.aclose()
    need_some("datagrams read in the flood", read)
    return {
        "sent": sent,
        "send_s": took,
        "read": read,
        "dropped_queue": dropped,
        "lost_socket": sent - read - dropped,
        "counted_socket": collector.state.socket_dropped,
        "flows": e.flows,
        "max_hold_ms": lateness[0] * 1000,
        "prefixes_reported": len(reports[-1] or {}) if reports else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefixes", type=int, default=100_000, help="RIB size the flows are matched against")
    ap.add_argument("--flows", type=int, default=300_000, help="flow records in the datagram set")
    ap.add_argument("--passes", type=int, default=3, help="best of N for the rates")
    ap.add_argument("--flood", type=int, default=100_000, help="datagrams sent in the flood")
    ap.add_argument("--flood-seconds", type=float, default=20.0, help="the flood stops after this at the latest")
    args = ap.parse_args()
    rng = random.Random(7)
    prefixes = rib(args.prefixes, rng)
    grams = datagrams(destinations(prefixes, args.flows, rng))
    need_some("datagrams", grams)

    t0 = time.perf_counter()
    match = PrefixMatch(prefixes)
    build = time.perf_counter() - t0
    dec_rate, flows = decode_rate(grams, args.passes)
    need_some("flows decoded", flows)
    all_rate, unmatched = full_rate(grams, match, args.passes)
    rx = recv_rate(grams[:20_000])
    cap_rate, cap_n = captured()
    window = VolumeWindow(10.0)
    for i, d in enumerate(destinations(prefixes, args.flows, rng)):
        window.add(match.lookup(d, False), 1500, 100.0 + 10.0 * i / args.flows)
    t0 = time.perf_counter()
    rates = window.rates(110.0)
    rates_s = time.perf_counter() - t0
    need_some("prefixes with a volume", rates or {})

    print(f"# flow collector, {args.prefixes} RIB prefixes, {len(grams)} NetFlow v9 datagrams of {RECORDS} records")
    print(f"{'measure':<52} {'value':>14}")
    print(f"{'decode only (flows/s, one core)':<52} {dec_rate:>14,.0f}")
    print(f"{'decode + longest match + window (flows/s)':<52} {all_rate:>14,.0f}")
    print(f"{'  = datagrams/s':<52} {all_rate / RECORDS:>14,.0f}")
    print(f"{'socket alone, no decode (datagrams/s)':<52} {rx:>14,.0f}")
    print(f"{'softflowd 1.1.0 captures, decode (flows/s)':<52} {cap_rate:>14,.0f}")
    print(f"{'  captured datagrams fed':<52} {cap_n:>14,}")
    print(f"{'unmatched octets (5% of flows, expected)':<52} {unmatched:>14,}")
    print(f"{'prefix matcher build (s, in a thread)':<52} {build:>14.3f}")
    print(f"{f'rates() over a 10 s window, {len(rates or {})} prefixes (ms)':<52} {rates_s * 1000:>14.1f}")
    f = asyncio.run(flood(grams, prefixes, args.flood, args.flood_seconds))
    print(f"# flood: {f['sent']:.0f} datagrams in {f['send_s']:.2f} s over loopback to a running collector")
    print(f"{'datagrams read (decoded and added up)':<52} {f['read']:>14,.0f}")
    print(f"{'dropped: queue full (counted)':<52} {f['dropped_queue']:>14,.0f}")
    print(f"{'lost before the queue (socket buffer)':<52} {f['lost_socket']:>14,.0f}")
    print(f"{'  as the collector counted them (SO_MEMINFO)':<52} {f['counted_socket']:>14,.0f}")
    print(f"{'longest hold of the event loop (ms; bound 100)':<52} {f['max_hold_ms']:>14.1f}")
    print(f"{'prefixes in the last report':<52} {f['prefixes_reported']:>14,.0f}")


if __name__ == "__main__":
    main()
