"""The pipe keeper: after the helper dies, ExaBGP's writes to its stdin must not fail (pipekeeper.py says why)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HELPER = """
import sys, time
from bgpsteer.runtime import pipekeeper
if {keep}:
    print(pipekeeper.start(), flush=True)
else:
    print(0, flush=True)
time.sleep(0.3)
"""


def helper(keep: bool) -> tuple[subprocess.Popen[bytes], int]:
    p = subprocess.Popen(
        [sys.executable, "-c", HELPER.format(keep=keep)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert p.stdout is not None
    keeper = int(p.stdout.readline())
    assert p.stdout.read() == b""  # EOF on stdout: the helper is gone (as ExaBGP sees it)
    p.wait(10)
    return p, keeper


def write_many(p: subprocess.Popen[bytes]) -> None:
    assert p.stdin is not None
    for _ in range(50):  # more than a pipe buffer's worth: the keeper must be reading
        p.stdin.write(b'{"type": "update"}' * 100 + b"\n")
        p.stdin.flush()


def test_without_a_keeper_exabgp_writes_into_a_broken_pipe() -> None:
    p, _ = helper(keep=False)
    with pytest.raises(BrokenPipeError):
        write_many(p)


def test_with_the_keeper_the_writes_succeed_and_it_exits_when_the_pipe_closes() -> None:
    p, keeper = helper(keep=True)
    assert keeper > 0
    write_many(p)
    cmdline = Path(f"/proc/{keeper}/cmdline").read_bytes()
    assert b"bgpsteer-pipe-keeper" in cmdline
    assert b"bgpsteer run" not in cmdline  # not mistaken for the helper
    assert p.stdin is not None
    p.stdin.close()  # ExaBGP closes the old pipe
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{keeper}"):
        try:
            if Path(f"/proc/{keeper}/stat").read_text().split()[2] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    gone = not os.path.exists(f"/proc/{keeper}") or Path(f"/proc/{keeper}/stat").read_text().split()[2] == "Z"
    assert gone
