"""Running a bench at its smoke size (bench/all.py holds the sizes): for this tier and the real-daemon one."""

from __future__ import annotations

import re
import subprocess

from bench.all import ROOT, Bench, commands

NUMBER = re.compile(r"\d[\d,]*(\.\d+)?")


def run_smoke(bench: Bench, timeout: float = 300) -> str:
    (argv,) = commands(bench, smoke=True, tree=None)
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    rows = [line for line in done.stdout.splitlines() if NUMBER.search(line)]
    assert len(rows) >= 2, f"{bench.name} printed no numbers:\n{done.stdout}"
    return done.stdout
