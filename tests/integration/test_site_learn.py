"""Site prefixes learned from the core (``site.learn``) on real daemons: the return lab's FRR core announces a site
network to ExaBGP; bgpsteer announces it to the clouds (an FRR Transit Gateway checked by its RIB), takes nothing
outside its prefix set, withdraws it when the core does, and keeps it through a helper restart and a reset of
its session to the core."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, sh, wait_for
from lab.returnlab import LEARNED, SITE, ReturnLab, build
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

LEAK = "192.0.2.0/24"  # a core network outside the site's prefix set


@pytest.fixture(scope="module")
def rl() -> Iterator[ReturnLab]:
    with lab() as lb:
        r = build(lb, learn=True)
        wait_for("the site at the TGW", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
        sh("ip", "route", "add", "blackhole", LEAK, ns=lb.ns("core"))
        yield r


def core_network(r: ReturnLab, prefix: str, on: bool = True) -> None:
    r.core.vtysh(
        f"configure terminal\nrouter bgp 65000\naddress-family ipv4 unicast\n{'' if on else 'no '}network {prefix}\n"
    )


def learning(r: ReturnLab) -> dict[str, Any]:
    p = r.ctl("status", "--json")
    assert p.returncode == 0, p.stderr
    out: dict[str, Any] = json.loads(p.stdout)["site_learning"]
    return out


def test_a_core_network_reaches_the_cloud_with_the_return_path_s_rules_and_leaves_with_it(rl: ReturnLab) -> None:
    core_network(rl, LEAK)
    t0 = time.monotonic()
    core_network(rl, LEARNED)
    wait_for("the learned site network at the TGW", lambda: len(rl.tgw_paths(LEARNED)) == 2, timeout=20)
    print(f"core network -> TGW holds it: {time.monotonic() - t0:.2f} s")
    paths = rl.tgw_paths(LEARNED)
    assert paths["169.254.10.1"]["med"] == 100  # fra preferred (the outbound majority), ams the backup
    assert paths["169.254.11.1"]["med"] == 200
    assert LEAK not in rl.tgw.routes()
    s = learning(rl)
    assert [a["prefix"] for a in s["announced"]] == [LEARNED]
    assert s["refused"] >= 1
    assert LEAK in s["last_refused"]
    x = rl.ctl("explain", "10.102.3.4")
    assert "site prefix 10.102.0.0/16 (the return path; learned from core router core1)" in x.stdout, x.stdout
    t0 = time.monotonic()
    core_network(rl, LEARNED, on=False)
    wait_for("the TGW without it", lambda: LEARNED not in rl.tgw.routes(), timeout=20)
    print(f"core withdraws -> TGW without it: {time.monotonic() - t0:.2f} s")
    assert all(len(rl.tgw_paths(p)) == 2 for p in SITE)  # the listed site is untouched


def _present_throughout(rl: ReturnLab, seconds: float) -> set[bool]:
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded: 0.2 s polls
        seen.add(len(rl.tgw_paths(LEARNED)) == 2)
        time.sleep(0.2)
    return seen


def test_a_helper_restart_and_a_core_session_reset_change_nothing_at_the_cloud(rl: ReturnLab) -> None:
    core_network(rl, LEARNED)
    wait_for("the learned site network at the TGW", lambda: len(rl.tgw_paths(LEARNED)) == 2, timeout=20)
    old = rl.helper_pid()
    os.kill(old, signal.SIGKILL)
    wait_for("a new helper", lambda: rl.helper_pid() != old, timeout=60)
    assert _present_throughout(rl, 8) == {True}  # restored from the state file, never withdrawn
    wait_for("the core's table confirms it", lambda: learning(rl)["held"] == 0, timeout=30)
    assert [a["origin"] for a in learning(rl)["announced"]] == ["learned from core router core1"]
    rl.core.vtysh("clear bgp ipv4 unicast 10.250.0.1")  # the core resets its session to us
    assert _present_throughout(rl, 6) == {True}  # held while the session is down, current once it is back
    wait_for("learned again", lambda: learning(rl)["held"] == 0, timeout=30)
