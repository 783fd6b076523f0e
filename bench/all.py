"""Every bench, at its documented size, into one page: the source of every number README and docs quote.

    python bench/all.py --out docs/performance.md              # everything (about an hour; root for the lab benches)
    python bench/all.py --out /tmp/p.md --only ingest stall    # some of them
    python bench/all.py --out /tmp/p.md --tree /path/to/old    # ingest and stall also run an older checkout
    python bench/all.py --smoke                                # every bench at a tiny size (what the tests run)

The page says when, at which commit and on what machine (cores, CPU model, and a short calibration loop: machines
of this kind vary 2-3x from day to day, so compare numbers only within one page) each bench ran, with its exact
command and its whole output.  Comparisons are always measured in the same run, by the bench itself (ExaBGP's own
rates, ``exabgp healthcheck``, per-prefix re-announcement, an older tree).  A bench that fails is shown as failed
and makes this command exit 1; no number is ever compared with a threshold.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bench:
    name: str
    full: tuple[str, ...]  # the documented size: what the page is made of
    smoke: tuple[str, ...]  # seconds: the test suite runs every bench at this size
    root: bool  # builds network namespaces and starts real daemons
    compares: str  # what the bench measures beside bgpsteer in the same run
    tree: str = ""  # with --tree OLD: "alternate" (the bench runs both trees itself) or "again" (a second run on OLD)


BENCHES = (
    Bench(
        "ingest",
        ("--routes", "1000000"),
        ("--routes", "3000", "--repeat", "1"),
        False,
        "the flight recorder on/off; ExaBGP's emit rate as reference; an older tree with --tree",
        tree="alternate",
    ),
    Bench(
        "stall",
        ("--routes", "1000000"),
        ("--routes", "2000", "--big-config-mb", "1", "--only", "status", "explain", "drain"),
        False,
        "the pipe while idle; an older tree with --tree (run right after)",
        tree="again",
    ),
    Bench(
        "bmp",
        ("--prefixes", "100000"),
        ("--prefixes", "300"),
        False,
        "ExaBGP's own UPDATE parser on the same messages; the pipe while idle",
    ),
    Bench(
        "flows",
        ("--prefixes", "100000"),
        ("--prefixes", "1000", "--flows", "3000", "--flood", "2000", "--flood-seconds", "3"),
        False,
        "the socket's own receive rate; softflowd's real datagrams",
    ),
    Bench("soak", (), ("--updates", "2000", "--prefixes", "100", "--every", "2"), False, "RSS over time"),
    Bench("relief", ("--prefixes", "2000"), ("--prefixes", "100", "--loads", "1.5", "--seconds", "20"), False, "ideal"),
    Bench("series", ("--prefixes", "2000"), ("--prefixes", "20"), False, "series with and without routes"),
    Bench(
        "announce", ("--routes", "30000"), ("--routes", "300"), True, "a trivial helper: ExaBGP's own ingest ceiling"
    ),
    Bench(
        "failover",
        ("--sizes", "1000,10000,100000"),
        ("--sizes", "100", "--timeout", "120"),
        True,
        "per-prefix re-announcement and exabgp healthcheck",
    ),
    Bench(
        "failover_loss",
        ("--sizes", "1000,10000"),
        ("--sizes", "100"),
        True,
        "per-prefix re-announcement and exabgp healthcheck",
    ),
    Bench(
        "restart",
        ("--runs", "3"),
        ("--runs", "1", "--modes", "gr-bgpsteer-eor"),
        True,
        "renderings without graceful restart and with ExaBGP's own End-of-RIB",
    ),
    Bench("degradation", ("--minutes", "5"), ("--minutes", "0.1"), True, "noise against a real degradation"),
    Bench(
        "returnpath",
        ("--runs", "3", "--seconds", "40"),
        ("--runs", "1", "--seconds", "6"),
        True,
        "the same failure without halves (the cloud's hold timer)",
    ),
    Bench(
        "tunnels",
        ("--runs", "3", "--seconds", "10", "--rekey-seconds", "120"),
        ("--runs", "1", "--seconds", "4", "--rekey-seconds", "0", "--causes", "peer removed"),
        True,
        "a silent blackhole found by probes only; a WireGuard rekey",
    ),
    Bench(
        "drift",
        ("--runs", "3"),
        ("--runs", "1", "--causes", "route-map"),
        True,
        "the core's own log time of the change (vtysh)",
    ),
)


def commands(bench: Bench, smoke: bool, tree: Path | None) -> list[list[str]]:
    argv = [sys.executable, str(ROOT / "bench" / f"{bench.name}.py"), *(bench.smoke if smoke else bench.full)]
    if tree is None or not bench.tree:
        return [argv]
    if bench.tree == "alternate":
        return [[*argv, "--tree", str(tree)]]
    return [argv, [*argv, "--tree", str(tree)]]


def calibration() -> float:
    """Millions of iterations per second of a fixed pure-Python loop: how fast this machine is today."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i & 7
        best = min(best, time.perf_counter() - t0)
    return 3.0 / best


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = next(
        (int(x.split()[1]) / 1024 / 1024 for x in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in x),
        0.0,
    )
    return [
        f"- cores: {os.cpu_count()}; CPU: {cpu}; memory: {mem:.0f} GiB",
        f"- Python {platform.python_version()} on {platform.system()} {platform.release()}",
        f"- calibration: {calibration():.1f} M iterations/s of a fixed Python loop (bench/all.py calibration())",
    ]


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def run(bench: Bench, argv: list[str], timeout: float, page: list[str]) -> int:
    """One bench as a child process; its command, time and whole output go on the page."""
    shown = " ".join(["python", f"bench/{bench.name}.py", *argv[2:]])
    print(f"== {shown}", flush=True)
    t0 = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        output, code = f"{partial}\n(stopped after {timeout:.0f} s)", -1
    took = time.monotonic() - t0
    print(output, flush=True)
    page += [
        f"## {bench.name}",
        "",
        f"`{shown}` ({'root, ' if bench.root else ''}{took:.0f} s"
        + (f"; FAILED with status {code}" if code else "")
        + f"). Compared in the same run: {bench.compares}.",
        "",
        "```",
        *(line.rstrip() for line in output.strip().splitlines()),
        "```",
        "",
    ]
    return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="the page to write (Markdown)")
    ap.add_argument("--only", nargs="*", help="these benches only (names: " + ", ".join(b.name for b in BENCHES) + ")")
    ap.add_argument("--tree", type=Path, help="an older checkout for the benches that compare trees")
    ap.add_argument("--smoke", action="store_true", help="every bench at a tiny size")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds for one bench")
    args = ap.parse_args()
    unknown = set(args.only or ()) - {b.name for b in BENCHES}
    if unknown:
        raise SystemExit(f"all.py: unknown bench(es): {', '.join(sorted(unknown))}")
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    if os.geteuid() != 0 and any(b.root for b in chosen):
        raise SystemExit(
            "all.py: " + ", ".join(b.name for b in chosen if b.root) + " need root; run as root or pick others "
            "with --only"
        )
    older = git("-C", str(args.tree), "rev-parse", "--short=12", "HEAD") if args.tree else ""
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    page = [
        "# Performance",
        "",
        "Every number below was produced by one run of `python bench/all.py"
        + (" --smoke" if args.smoke else "")
        + (f" --only {' '.join(args.only)}" if args.only else "")
        + (" --tree OLD" if args.tree else "")
        + f" --out {args.out or 'PAGE'}`. Compare numbers only within this page: the machines vary from day to day.",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- commit: {git('rev-parse', '--short=12', 'HEAD')}{dirty} ({git('log', '-1', '--format=%s')[:80]})",
        *([f"- older tree for comparison (--tree): commit {older}"] if args.tree else []),
        *machine(),
        "",
    ]
    failed = []
    for bench in chosen:
        for argv in commands(bench, args.smoke, args.tree):
            code = run(bench, argv, args.timeout, page)
            if code != 0:
                failed.append(bench.name)
    if args.out:
        args.out.write_text("\n".join(page))
        print(f"wrote {args.out}")
    if failed:
        raise SystemExit(f"all.py: FAILED: {', '.join(failed)}")


if __name__ == "__main__":
    main()
