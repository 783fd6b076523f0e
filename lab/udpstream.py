"""A sequenced UDP stream for measuring loss, bounded in count and time.

    udpstream.py send DEST_ADDR PORT --rate 1000 --seconds 20 [--source ADDR]
    udpstream.py recv LISTEN_ADDR PORT --seconds 25 --out summary.json

The receiver writes a JSON summary: packets received, the highest sequence number, the
sequence numbers lost (as ranges) and out of order.  At --rate 1000, each lost packet is
one millisecond of loss.  Only the lab's own namespace addresses are ever used.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time
from pathlib import Path

HEADER = struct.Struct("!Id")  # sequence number, send time


def send(dest: str, port: int, rate: float, seconds: float, source: str | None) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if source:
        s.bind((source, 0))
    count = int(rate * seconds)  # bounded in count and in time
    start = time.monotonic()
    for seq in range(count):
        due = start + seq / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            s.sendto(HEADER.pack(seq, time.time()) + b"x" * 64, (dest, port))
        except OSError:
            pass  # no route for a moment: that packet is lost, which is what is measured
        if time.monotonic() - start > seconds + 5:
            break
    print(json.dumps({"sent": count}))


def recv(addr: str, port: int, seconds: float, out: Path) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(0.2)
    seen: set[int] = set()
    reordered = 0
    last = -1
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data, _ = s.recvfrom(2048)
        except TimeoutError:
            continue
        seq = HEADER.unpack_from(data)[0]
        if seq < last:
            reordered += 1
        last = max(last, seq)
        seen.add(seq)
    lost = [i for i in range(last + 1) if i not in seen]
    ranges: list[list[int]] = []
    for i in lost:
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1][1] = i
        else:
            ranges.append([i, i])
    out.write_text(
        json.dumps(
            {"received": len(seen), "highest": last, "lost": len(lost), "lost_ranges": ranges, "reordered": reordered}
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("send")
    a.add_argument("dest")
    a.add_argument("port", type=int)
    a.add_argument("--rate", type=float, default=1000.0)
    a.add_argument("--seconds", type=float, default=20.0)
    a.add_argument("--source")
    b = sub.add_parser("recv")
    b.add_argument("addr")
    b.add_argument("port", type=int)
    b.add_argument("--seconds", type=float, default=25.0)
    b.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.mode == "send":
        send(args.dest, args.port, args.rate, min(args.seconds, 120.0), args.source)
    else:
        recv(args.addr, args.port, min(args.seconds, 180.0), args.out)


if __name__ == "__main__":
    main()
