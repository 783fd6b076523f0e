"""Run inside a fresh network namespace by test_probes.py: every probe kind and failure, on loopback.

Prints one JSON object: case name -> [ok, reason, rtt_ms].
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bgpsteer.core.model import Probe
from bgpsteer.probes.runner import ProbeRunner, probe_once


async def main() -> None:
    loop = asyncio.get_running_loop()
    tcp = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    tcp_port = tcp.sockets[0].getsockname()[1]

    async def http_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        found = request.startswith(b"GET /health ")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" if found else b"HTTP/1.1 404 Not Found\r\n\r\n")
        await writer.drain()
        writer.close()

    http = await asyncio.start_server(http_handler, "127.0.0.1", 0)
    http_port = http.sockets[0].getsockname()[1]

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.t.sendto(data, addr)  # type: ignore[attr-defined]

    echo, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    udp_port = echo.get_extra_info("sockname")[1]
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives, never answers: a target that hangs
    silent_port = silent.getsockname()[1]

    cases = {
        "icmp": (Probe("icmp", ("127.0.0.1",), timeout=1.0), "127.0.0.1"),
        "icmp6": (Probe("icmp", ("::1",), timeout=1.0), "::1"),
        "tcp": (Probe("tcp", ("127.0.0.1",), port=tcp_port, timeout=1.0), "127.0.0.1"),
        "tcp_refused": (Probe("tcp", ("127.0.0.1",), port=1, timeout=1.0), "127.0.0.1"),
        "udp": (Probe("udp", ("127.0.0.1",), port=udp_port, timeout=1.0), "127.0.0.1"),
        "udp_hang": (Probe("udp", ("127.0.0.1",), port=silent_port, timeout=0.3), "127.0.0.1"),
        "http": (Probe("http", ("127.0.0.1",), port=http_port, timeout=1.0, http_path="/health"), "127.0.0.1"),
        "http_404": (Probe("http", ("127.0.0.1",), port=http_port, timeout=1.0, http_path="/missing"), "127.0.0.1"),
        "dns": (Probe("tcp", ("no-such-host.invalid",), port=80, timeout=1.0), "no-such-host.invalid"),
        "device_gone": (Probe("tcp", ("127.0.0.1",), port=tcp_port, timeout=1.0, device="bsgone0"), "127.0.0.1"),
        "bad_source": (Probe("icmp", ("127.0.0.1",), timeout=1.0, source="192.0.2.77"), "127.0.0.1"),
    }
    other = sys.argv[1]  # another namespace of the test's, with only loopback up
    cases["netns"] = (Probe("icmp", ("127.0.0.1",), timeout=1.0, netns=other), "127.0.0.1")
    out = {}
    for name, (probe, target) in cases.items():
        s = await probe_once(probe, target)
        out[name] = [s.ok, s.reason, s.rtt_ms]
    # a TCP listener only in the other namespace: reachable through netns, refused from here
    import subprocess

    listener = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            other,
            sys.executable,
            "-c",
            "import socket,time;s=socket.socket();s.bind(('127.0.0.1',7777));s.listen();time.sleep(10)",
        ]
    )
    await asyncio.sleep(0.5)
    s = await probe_once(Probe("tcp", ("127.0.0.1",), port=7777, timeout=1.0, netns=other), "127.0.0.1")
    out["netns_tcp"] = [s.ok, s.reason, s.rtt_ms]
    s = await probe_once(Probe("tcp", ("127.0.0.1",), port=7777, timeout=1.0), "127.0.0.1")
    out["here_tcp"] = [s.ok, s.reason, s.rtt_ms]
    listener.kill()
    listener.wait()
    subprocess.run(["ip", "netns", "delete", other], check=True)  # the namespace vanishes
    s = await probe_once(Probe("icmp", ("127.0.0.1",), timeout=1.0, netns=other), "127.0.0.1")
    out["netns_gone"] = [s.ok, s.reason, s.rtt_ms]
    rounds: list[int] = []
    runner = ProbeRunner(lambda egress, samples: rounds.append(len(samples)), max_rounds=5)
    from bgpsteer.core.model import Egress

    runner.start(
        (
            Egress(
                "e", "r", "J", 0, "10.255.0.1", 1, probe=Probe("icmp", ("127.0.0.1", "::1"), interval=0.05, timeout=0.2)
            ),
        )
    )
    await asyncio.wait(list(runner.tasks.values()), timeout=5)
    out["runner_rounds"] = list(rounds)
    print(json.dumps(out))


asyncio.run(main())
