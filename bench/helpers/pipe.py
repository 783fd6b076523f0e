"""The ExaBGP side of a helper's pipe, for benchmarks that run the real `bgpsteer run`.

Starts the helper, writes lines to its stdin (thread-safe), reads its commands and answers each
with ``done`` as ExaBGP does, and hands every batch of command lines to ``on_commands``.  ``check`` asks the
helper (over its control socket) whether it took the lines in: a helper that died, or that counts the bench's
lines as malformed, stops the bench with the reason and the first rejected line from its log.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.helpers.guard import fail
from bgpsteer.noc.client import CtlError, call

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
        # the helper's log names the lines it rejects (BENCH_HELPER_LOG=FILE keeps it; with PYTHONASYNCIODEBUG=1
        # it also lists slow callbacks)
        self.log = Path(os.environ.get("BENCH_HELPER_LOG") or tempfile.mkstemp(prefix="bgpsteer-bench-helper-")[1])
        self.proc = subprocess.Popen(
            [python, "-m", "bgpsteer", "run", "--config", str(config)],
            cwd=tree,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(self.log, "ab"),
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

    def alive(self) -> None:
        """Fail the bench if the helper has exited: every number after that would be about nothing."""
        code = self.proc.poll()
        if code is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
            fail(f"the helper exited with status {code} mid-run; its log {self.log} ends: {' | '.join(tail)}")

    def first_rejected(self) -> str:
        for line in self.log.read_text(errors="replace").splitlines():
            if "skipped malformed line" in line:
                return line.split("skipped malformed line from ExaBGP ", 1)[-1]
        return "(not in the helper's log)"

    def check(self, sock: str) -> dict[str, Any]:
        """The helper's status, once it is alive and has rejected none of the bench's lines."""
        self.alive()
        try:
            status: dict[str, Any] = call(sock, "status", timeout=120)
        except CtlError as exc:
            self.alive()
            fail(f"the helper's control socket does not answer: {exc}")
        bad = status.get("pipe", {}).get("malformed_lines", 0)
        if bad:
            fail(f"the helper rejected {bad:,} of the bench's lines as malformed; the first: {self.first_rejected()}")
        return status

    def wait_socket(self, sock: str, limit: float = 30.0) -> None:
        """The control socket comes up once the helper has started."""
        deadline = time.monotonic() + limit
        while not os.path.exists(sock):
            self.alive()
            if time.monotonic() > deadline:
                fail(f"the helper's control socket {sock} did not appear within {limit:.0f} s")
            time.sleep(0.05)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        ran = self.proc.poll() is None  # a helper that died on its own keeps its log for the reader
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if ran and not os.environ.get("BENCH_HELPER_LOG"):
            self.log.unlink(missing_ok=True)
