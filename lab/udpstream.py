"""A sequenced UDP stream for measuring loss, bounded in count and time.

    udpstream.py send DEST_ADDR PORT --rate 1000 --seconds 20 [--source ADDR] [--dscp 46]
    udpstream.py recv LISTEN_ADDR PORT --seconds 25 --out summary.json
    udpstream.py tcp-send DEST_ADDR PORT --seconds 20 [--dscp N]      (bulk: as fast as TCP goes, bounded)
    udpstream.py tcp-sink LISTEN_ADDR PORT --seconds 25 --out summary.json

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


def send(dest: str, port: int, rate: float, seconds: float, source: str | None, dscp: int = 0) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
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


def bound_mark(out: Path) -> Path:
    """Exists once the receiver writing ``out`` listens: its sender may start."""
    return out.with_suffix(".bound")


def flowing_mark(out: Path) -> Path:
    """Exists once the receiver writing ``out`` has its first datagram: the stream flows (a fault may come)."""
    return out.with_suffix(".flowing")


def recv(addr: str, port: int, seconds: float, out: Path) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, port))
    s.settimeout(0.2)
    bound_mark(out).touch()
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
        if not seen:
            flowing_mark(out).touch()
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


TCP_CHUNK = b"b" * 65536
TCP_MAX_BYTES = 2 * 1024**3  # a bound on a bulk transfer besides its time


def tcp_send(dest: str, port: int, seconds: float, dscp: int = 0, kbps: float = 20000) -> None:
    """One TCP connection sending for ``seconds`` (a backup job) at up to ``kbps``: bounded in time and bytes."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, dscp << 2)
    s.settimeout(5)
    s.connect((dest, port))
    sent = 0
    deadline = time.monotonic() + seconds
    start = time.monotonic()
    while time.monotonic() < deadline and sent < TCP_MAX_BYTES:
        ahead = sent * 8 / (kbps * 1000) - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(min(ahead, 0.1))  # paced: a lab flow must not take a whole core
            continue
        try:
            sent += s.send(TCP_CHUNK)
        except TimeoutError:
            continue  # a failover stalls the flow for a moment: it resumes on the new path
        except OSError:
            break
    s.close()
    print(json.dumps({"sent_bytes": sent}))


def tcp_sink(addr: str, port: int, seconds: float, out: Path) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(4)
    srv.settimeout(0.5)
    bound_mark(out).touch()
    received = 0
    deadline = time.monotonic() + seconds
    conns: list[socket.socket] = []
    while time.monotonic() < deadline:
        try:
            c, _ = srv.accept()
            c.settimeout(0.2)
            conns.append(c)
        except TimeoutError:
            pass
        for c in conns:
            try:
                while data := c.recv(65536):
                    received += len(data)
            except (TimeoutError, BlockingIOError, OSError):
                continue
    out.write_text(json.dumps({"received_bytes": received, "connections": len(conns)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("send")
    a.add_argument("dest")
    a.add_argument("port", type=int)
    a.add_argument("--rate", type=float, default=1000.0)
    a.add_argument("--seconds", type=float, default=20.0)
    a.add_argument("--source")
    a.add_argument("--dscp", type=int, default=0)
    t = sub.add_parser("tcp-send")
    t.add_argument("dest")
    t.add_argument("port", type=int)
    t.add_argument("--seconds", type=float, default=20.0)
    t.add_argument("--dscp", type=int, default=0)
    t.add_argument("--kbps", type=float, default=20000.0)
    k = sub.add_parser("tcp-sink")
    k.add_argument("addr")
    k.add_argument("port", type=int)
    k.add_argument("--seconds", type=float, default=25.0)
    k.add_argument("--out", type=Path, required=True)
    b = sub.add_parser("recv")
    b.add_argument("addr")
    b.add_argument("port", type=int)
    b.add_argument("--seconds", type=float, default=25.0)
    b.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.mode == "send":
        send(args.dest, args.port, args.rate, min(args.seconds, 120.0), args.source, args.dscp)
    elif args.mode == "tcp-send":
        tcp_send(args.dest, args.port, min(args.seconds, 120.0), args.dscp, args.kbps)
    elif args.mode == "tcp-sink":
        tcp_sink(args.addr, args.port, min(args.seconds, 180.0), args.out)
    else:
        recv(args.addr, args.port, min(args.seconds, 180.0), args.out)


if __name__ == "__main__":
    main()
