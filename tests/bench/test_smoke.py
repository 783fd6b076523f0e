"""Every bench runs at a tiny size and must finish with its numbers (bench/all.py holds the sizes, once).

The benches are the evidence for every performance and memory claim; a bench that silently measures nothing
(bench/helpers/pipe.py once fed the helper only invalid JSON and nobody noticed) is caught here.  Nothing here
compares a number with a threshold.  The root-only benches run in tests/integration/test_bench_smoke.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.all import BENCHES, ROOT, Bench
from bench.helpers.guard import need_some
from bench.helpers.pipe import PipeHelper
from bench.stall import CONFIG as STALL_CONFIG
from tests.bench.runner import run_smoke


def test_every_bench_in_the_folder_has_a_smoke_size() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__", "all"}
    assert scripts == {b.name for b in BENCHES}


@pytest.mark.parametrize("bench", [b for b in BENCHES if not b.root], ids=lambda b: b.name)
def test_a_bench_that_needs_no_root_finishes_with_its_numbers(bench: Bench) -> None:
    run_smoke(bench)


def test_the_soak_reports_rows_and_the_routes_it_fed() -> None:
    out = run_smoke(next(b for b in BENCHES if b.name == "soak"))
    assert re.search(r"routes received [1-9][\d,]*;", out), out
    assert "after warm-up (" in out


def test_a_helper_that_died_mid_run_stops_the_bench_with_its_status(tmp_path: Path) -> None:
    config = tmp_path / "stall.yaml"
    config.write_text(STALL_CONFIG.format(state=tmp_path / "state"))
    helper = PipeHelper(config, sys.executable, ROOT)
    try:
        helper.wait_socket(str(tmp_path / "state" / "control.sock"))
        helper.proc.kill()
        helper.proc.wait(10)
        with pytest.raises(SystemExit, match=r"FAILED: the helper exited with status -9 mid-run"):
            helper.alive()
    finally:
        helper.stop()


def test_a_helper_rejecting_the_benchs_lines_stops_the_bench_naming_the_first(tmp_path: Path) -> None:
    config = tmp_path / "stall.yaml"
    config.write_text(STALL_CONFIG.format(state=tmp_path / "state"))
    helper = PipeHelper(config, sys.executable, ROOT)
    sock = str(tmp_path / "state" / "control.sock")
    try:
        helper.wait_socket(sock)
        helper.write('{"exabgp": "5.0.0", "type": "update", "neighbor": {{"oops"\n')
        deadline = time.monotonic() + 30  # the line is read asynchronously: bounded polling
        while helper.first_rejected() == "(not in the helper's log)" and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(SystemExit, match=r"rejected 1 of the bench's lines as malformed; the first: .*oops"):
            helper.check(sock)
    finally:
        helper.stop()


def test_nothing_measured_is_a_failure() -> None:
    with pytest.raises(SystemExit, match="FAILED: rows: none"):
        need_some("rows", [])
    need_some("rows", [1])


@pytest.mark.skipif(os.geteuid() != 0, reason="shows the message a user without root gets; needs root to drop it")
def test_a_root_only_bench_run_without_root_says_so_at_once() -> None:
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "bench/failover.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "failover.py: needs root" in done.stderr, done.stderr
