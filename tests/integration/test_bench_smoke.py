"""The root-only benches (namespaces, real FRR, BIRD and ExaBGP) at a tiny size: each finishes with its numbers.

Part of the real-daemon tier: a missing daemon or no root fails the run in CI (needs.py), never skips it.  An
interrupted bench must leave no namespace and no process behind.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.all import BENCHES, ROOT, Bench, commands
from tests.bench.runner import run_smoke
from tests.integration.needs import lab_tools

lab_tools()


@pytest.mark.parametrize("bench", [b for b in BENCHES if b.root], ids=lambda b: b.name)
def test_a_root_only_bench_finishes_with_its_numbers(bench: Bench) -> None:
    run_smoke(bench, timeout=600)


def namespaces(tag: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(tag)]


def test_a_bench_interrupted_with_ctrl_c_removes_its_namespaces_and_processes() -> None:
    (argv,) = commands(next(b for b in BENCHES if b.name == "failover"), smoke=True, tree=None)
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tag = f"bs{proc.pid % 100000}-"
    try:
        deadline = time.monotonic() + 120
        while len(namespaces(tag)) < 3 and time.monotonic() < deadline:  # the lab is up: the core, a cloud, the rs
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        assert len(namespaces(tag)) >= 3
        time.sleep(3.0)  # daemons starting inside them
        pids = [
            int(pid)
            for ns in namespaces(tag)
            for pid in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        ]
        assert pids, "no process runs in the bench's namespaces"
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert namespaces(tag) == []
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists() and "Z" not in state(pid)] == []


def state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
