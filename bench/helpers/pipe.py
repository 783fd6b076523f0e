"""The ExaBGP side of a helper's pipe, for benchmarks that run the real `bgpsteer run`.

Starts the helper, writes lines to its stdin (thread-safe), reads its commands and answers each
with ``done`` as ExaBGP does, and hands every batch of command lines to ``on_commands``.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

F_SETPIPE_SZ = 1031


def update_line(
    peer: str, asn: int, prefixes: list[str], as_path: tuple[int, ...], med: int, withdraw: bool = False
) -> str:
    """One UPDATE as ExaBGP 5.0.15 writes it to its helper (tests/contract/captures), without the newline.
    Formatted by hand, not json.dumps: the driver must stay much faster than the helper it drives."""
    nlri = ", ".join(f'{{"nlri": "{p}"}}' for p in prefixes)
    if withdraw:
        body = f'{{"withdraw": {{"ipv4 unicast": [{nlri}]}}}}'
    else:
        attrs = (
            f'{{"origin": "igp", "as-path": {{"0": {{"element": "as-sequence", '
            f'"value": [{", ".join(map(str, as_path))}]}}}}, '
            f'"med": {med}}}'
        )
        body = f'{{"attribute": {attrs}, "announce": {{"ipv4 unicast": {{"{peer}": [{nlri}]}}}}}}'
    # every piece is an f-string: a plain one would keep its doubled braces and make the line invalid JSON
    return (
        f'{{"exabgp": "5.0.0", "time": {time.time():.3f}, "type": "update", '
        f'"neighbor": {{"address": {{"local": "10.250.0.1", "peer": "{peer}"}}, '
        f'"asn": {{"local": 65000, "peer": {asn}}}, "direction": "receive", "message": {{"update": {body}}}}}}}'
    )


SUMMARY_HEADER = "Peer            AS        up/down state       |     #sent     #recvd\n"


class PipeHelper:
    def __init__(
        self,
        config: Path,
        python: str,
        tree: Path,
        stdin_pipe_bytes: int | None = None,
        on_commands: Callable[[list[bytes], float], None] | None = None,
    ) -> None:
        env = dict(os.environ, PYTHONPATH=str(tree))
        self.proc = subprocess.Popen(
            [python, "-m", "bgpsteer", "run", "--config", str(config)],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # BENCH_HELPER_LOG=FILE keeps the helper's log (with PYTHONASYNCIODEBUG=1: its slow callbacks)
            stderr=open(os.environ["BENCH_HELPER_LOG"], "ab")
            if os.environ.get("BENCH_HELPER_LOG")
            else subprocess.DEVNULL,
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.fd = self.proc.stdin.fileno()
        if stdin_pipe_bytes:
            fcntl.fcntl(self.fd, F_SETPIPE_SZ, stdin_pipe_bytes)
        self.lock = threading.Lock()
        self.commands = 0
        self.on_commands = on_commands
        threading.Thread(target=self._read, daemon=True).start()

    def write(self, text: str) -> None:
        data = text.encode()
        with self.lock:
            while data:
                data = data[os.write(self.fd, data) :]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        rest = b""
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            if not lines:
                continue
            self.commands += len(lines)
            if self.on_commands is not None:
                self.on_commands(lines, time.perf_counter())
            # ExaBGP acknowledges every command line (and answers the summary the helper asks for at start)
            answer = "".join(
                SUMMARY_HEADER + "done\n" if line == b"show neighbor summary" else "done\n" for line in lines
            )
            try:
                self.write(answer)
            except OSError:
                return

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
