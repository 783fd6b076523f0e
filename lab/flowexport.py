"""A real flow exporter in a namespace: Debian's softflowd watching one interface and exporting NetFlow v9 or IPFIX
over UDP, and a bounded sender of test packets through it.  Used to capture real exporter output for the decoder's
tests (``python -m lab.flowexport --out tests/data/flows``) and by the lab's flow tests.

    exporter  veth 10.254.0.1/30 --- 10.254.0.2/30  sink     (10.254.0.2 routes 10.20.0.0/16 and fd20::/48 to lo)

Packets go from exporter to addresses in 10.20.0.0/16 and fd20::/48 (inside the sink namespace only); softflowd
sees them leave and exports their flows to a collector on the exporter namespace's loopback.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

from lab.netlab import Lab, lab, sh


def softflowd(
    lb: Lab, ns: str, device: str, collector: str, version: str, sampling: int = 1, tag: str = ""
) -> subprocess.Popen[bytes]:
    """softflowd in the foreground on ``device``, exporting every flow a second after it ends (expint=1, maxlife=2
    so that a long flow is exported every 2 s): ``collector`` is host:port, ``version`` 9 or 10 (IPFIX)."""
    # -B: libpcap hands softflowd packets a buffer block at a time; on a quiet link a large block never fills and
    # softflowd sees nothing (measured: 72 packets received by libpcap, 0 processed), so the block is kept small
    args = ["softflowd", "-d", "-6", "-B", "65536", "-i", device, "-n", collector, "-v", version, "-T", "full"]
    args += ["-t", "maxlife=2", "-t", "expint=1", "-t", "general=1", "-t", "udp=1", "-t", "icmp=1"]
    args += ["-p", str(lb.path(f"softflowd{tag}.pid")), "-c", str(lb.path(f"softflowd{tag}.ctl"))]
    if sampling > 1:
        args += ["-s", str(sampling)]
    return lb.spawn(ns, args, f"softflowd{tag}.log")


def send_udp(ns_path: str, destinations: list[str], count: int, size: int = 200) -> None:
    """``count`` UDP datagrams of ``size`` bytes to each destination, from inside the namespace (bounded)."""
    code = (
        "import socket,sys\n"
        "for d in sys.argv[3:]:\n"
        "    s=socket.socket(socket.AF_INET6 if ':' in d else socket.AF_INET, socket.SOCK_DGRAM)\n"
        "    try:\n"
        "        for _ in range(int(sys.argv[1])): s.sendto(b'x'*int(sys.argv[2]), (d, 9))\n"
        "    except OSError as e: sys.exit(f'{d}: {e}')\n"
    )
    sh("python3", "-c", code, str(count), str(size), *destinations, ns=ns_path)


def capture(out: Path, seconds: float = 8.0) -> None:
    """Capture what softflowd really sends, as v9 and IPFIX, unsampled and 1-in-4 sampled, one datagram per file."""
    out.mkdir(parents=True, exist_ok=True)
    with lab("fx") as lb:
        dev, _ = lb.link("exporter", "10.254.0.1/30,fd54::1/64", "sink", "10.254.0.2/30,fd54::2/64")
        sh("ip", "route", "add", "10.20.0.0/16", "via", "10.254.0.2", ns=lb.ns("exporter"))
        sh("ip", "-6", "route", "add", "fd20::/48", "via", "fd54::2", ns=lb.ns("exporter"))
        sh("ip", "route", "add", "local", "10.20.0.0/16", "dev", "lo", ns=lb.ns("sink"))
        sh("ip", "-6", "route", "add", "local", "fd20::/48", "dev", "lo", ns=lb.ns("sink"))
        for version, sampling in (("9", 1), ("10", 1), ("9", 4), ("10", 4)):
            tag = f"v{version}-s{sampling}"
            rx = lb.spawn(
                "exporter",
                [sys.executable, "-m", "lab.flowexport", "--listen", "127.0.0.1:2055", "--out", str(out / tag)],
                f"rx-{tag}.log",
            )
            time.sleep(0.5)
            exp = softflowd(lb, "exporter", dev, "127.0.0.1:2055", version, sampling, tag)
            time.sleep(1.0)
            send_udp(
                lb.ns("exporter"), ["10.20.1.1", "10.20.2.2", "10.20.200.3", "fd20::5", "fd20::1:0:0:6"], 800, 1000
            )
            time.sleep(seconds)
            exp.terminate()
            exp.wait(10)
            rx.terminate()
            rx.wait(10)


def receive(listen: str, out: Path, seconds: float = 60.0) -> None:
    """Write each datagram that arrives (for at most ``seconds``) to out/NNN.bin."""
    host, port = listen.rsplit(":", 1)
    out.mkdir(parents=True, exist_ok=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    s.settimeout(0.5)
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        try:
            data = s.recv(65535)
        except TimeoutError:
            continue
        (out / f"{n:03d}.bin").write_bytes(data)
        n += 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--listen", help="only receive, on HOST:PORT (what capture runs in the namespace)")
    a = ap.parse_args()
    if a.listen:
        receive(a.listen, a.out)
    else:
        capture(a.out)
