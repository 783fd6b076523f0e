"""A redundant pair of route servers on real daemons (lab/pair.py): the same paths with the same ranking from both;
one whole route server killed loses no usable path on the core (its RIB polled every 50 ms), and its return changes
nothing; a disagreement (one sees an egress down, the other not) keeps the egress in use, without oscillation,
until both see it down; drain and undrain from one CLI call act on both."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from lab.netlab import lab, sh, wait_for
from lab.pair import RS_ADDRESS, Pair, build
from lab.topology import NH_ROUTES, best_paths
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

FRA, AMS = "10.255.0.1", "10.255.0.2"


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with lab() as lb:
        p = build(lb)
        wait_for("both route servers' paths on the core", lambda: complete(p), timeout=90, interval=0.5)
        yield p


def complete(p: Pair) -> bool:
    paths = p.paths_by_server()
    return all(paths[rs] for rs in RS_ADDRESS) and paths["rs"].keys() == paths["rsb"].keys()


def usable(p: Pair) -> dict[str, str | None]:
    return best_paths(p.core)


def test_both_route_servers_announce_the_same_paths_with_the_same_ranking(pair: Pair) -> None:
    paths = pair.paths_by_server()
    assert paths["rs"] == paths["rsb"]  # every (prefix, egress next-hop) with the same LOCAL_PREF, MED, AS path
    prefixes = {prefix for prefix, _ in paths["rs"]}
    assert prefixes
    for prefix in prefixes:
        ranked = {
            rs: sorted((-(a["local_pref"] or 0), a["med"] or 0, nh) for (p, nh), a in paths[rs].items() if p == prefix)
            for rs in RS_ADDRESS
        }
        assert ranked["rs"] == ranked["rsb"], prefix
    # each announces NH_E/32 with itself as next-hop: the core holds one per route server
    nh = pair.core.routes()
    for route in ("10.255.0.1/32", "10.255.0.2/32"):
        assert {p["peerId"] for p in nh[route]} == set(RS_ADDRESS.values()), route


def fib(p: Pair) -> set[str]:
    """Steered prefixes the core's kernel FIB has a route for (zebra installs FRR's best paths)."""
    out = sh("ip", "-4", "-o", "route", "show", "proto", "bgp", ns=p.lab.ns("core"))
    return {line.split()[0] for line in out.splitlines()} - {r.split("/")[0] for r in NH_ROUTES} - set(NH_ROUTES)


def test_killing_one_whole_route_server_loses_no_usable_path_and_its_return_changes_nothing(pair: Pair) -> None:
    before = usable(pair)
    assert before
    assert all(before.values())
    installed = fib(pair)
    assert installed == set(before)
    rib_gaps: list[list[str]] = []
    fib_gaps: list[list[str]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            lost = sorted(set(installed) - fib(pair))
            if lost:
                fib_gaps.append(lost)
            raw = pair.core.routes()
            lost = sorted(p for p in before if not any(path.get("valid") for path in raw.get(p, [])))
            if lost:
                rib_gaps.append([f"{p}: {raw.get(p)}" for p in lost])
            time.sleep(0.02)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    try:
        pair.kill("rs")
        wait_for(
            "the core drops the dead route server's paths",
            lambda: not pair.paths_by_server()["rs"],
            timeout=60,
            interval=0.2,
        )
        assert usable(pair) == before  # the same egress for every prefix, through rsb's paths
        pair.start("rs")
        wait_for("its return", lambda: complete(pair), timeout=90, interval=0.5)
        time.sleep(1.0)
    finally:
        stop.set()
        w.join(10)
    # The FIB is measured, not asserted (docs/operations.md: "A redundant pair"): with route servers that forward
    # themselves (gateway "self", as here) FRR 8.4 re-installs the recursive routes when NH_E/32's best path moves to
    # the other route server, and the kernel FIB is without them for a few 20 ms polls.  The paths themselves never
    # leave the RIB: every poll found a valid path for every prefix.  Valid, not flagged best: FRR selects the best
    # path on a work queue after it removes a dead peer's paths, so a poll can fall between the two.
    print(
        f"core FIB polls without the steered routes: {len(fib_gaps)}; RIB polls without a valid path: {len(rib_gaps)}"
    )
    assert rib_gaps == []
    assert usable(pair) == before
    assert fib(pair) == installed
    paths = pair.paths_by_server()
    assert paths["rs"] == paths["rsb"]


def test_a_disagreement_keeps_the_egress_in_use_until_both_see_it_down(pair: Pair) -> None:
    assert set(usable(pair).values()) <= {FRA, AMS}
    on_ams = {p for p, nh in usable(pair).items() if nh == AMS}
    assert on_ams
    pair.block_probes("rs", "gcp", True)  # only rs sees ams fail
    try:
        wait_for(
            "rs withdraws ams's next-hop route",
            lambda: {p["peerId"] for p in pair.core.routes().get("10.255.0.2/32", [])} == {RS_ADDRESS["rsb"]},
            timeout=30,
            interval=0.2,
        )
        # the outcome on the core: ams stays usable through rsb's NH route; nothing moves, for as long as it lasts
        seen = set()
        for _ in range(20):
            now = usable(pair)
            seen.add(frozenset(p for p, nh in now.items() if nh == AMS))
            time.sleep(0.25)
        assert seen == {frozenset(on_ams)}, "the core moved while the pair disagreed"
        pair.block_probes("rsb", "gcp", True)  # now both see it
        held = pair.paths_by_server()["rsb"]
        backed = {p for p in on_ams if (p, FRA) in held}  # also announced through fra
        assert backed
        wait_for(
            "every ams prefix on fra (or without a path where only gcp has it)",
            lambda: all(usable(pair).get(p) == (FRA if p in backed else None) for p in on_ams),
            timeout=30,
            interval=0.2,
        )
    finally:
        pair.block_probes("rs", "gcp", False)
        pair.block_probes("rsb", "gcp", False)
    wait_for("back on ams", lambda: all(usable(pair).get(p) == AMS for p in on_ams), timeout=60, interval=0.5)


def test_drain_and_undrain_act_on_the_pair_from_one_call(pair: Pair) -> None:
    on_ams = {p for p, nh in usable(pair).items() if nh == AMS}
    socks = [a for s in pair.sockets() for a in ("--socket", s)]
    run = subprocess.run([sys.executable, "-m", "bgpsteer", "drain", "ams", *socks], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("egress ams drained") == 2
    drained = {"10.255.0.2"}  # drained paths stay (LOCAL_PREF 0): only the prefixes fra also has move
    backed = {x for x in on_ams if (x, FRA) in pair.paths_by_server()["rsb"]}
    wait_for("every backed ams prefix on fra", lambda: all(usable(pair).get(x) == FRA for x in backed), timeout=30)
    assert all(usable(pair).get(x) in drained for x in on_ams - backed)
    run = subprocess.run([sys.executable, "-m", "bgpsteer", "undrain", "ams", *socks], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    wait_for("back on ams", lambda: all(usable(pair).get(x) == AMS for x in on_ams), timeout=30)
    # one agent unreachable: the other still takes it, the call says the pair disagrees and fails
    run = subprocess.run(
        [sys.executable, "-m", "bgpsteer", "drain", "ams", "--socket", socks[1], "--socket", "/nonexistent.sock"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 3
    assert "the pair disagrees" in run.stderr
    subprocess.run([sys.executable, "-m", "bgpsteer", "undrain", "ams", "--socket", socks[1]], check=True)
