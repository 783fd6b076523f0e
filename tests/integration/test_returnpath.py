"""The return path on real daemons (lab/returnlab.py): an FRR playing an AWS Transit Gateway, reached through two
egresses, answers the site through the egress its prefixes leave by; when that egress's tunnel blackholes (BGP
stays up) it moves to the other by the halves; it comes back after the hold-down; nothing more than the limit.
The agent also learns site prefixes from the core (``site.learn``): the last tests have the core announce one."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, sh, wait_for
from lab.returnlab import AZURE_INSIDE, GCP_INSIDE, INSIDE, LEARNED, SITE, ReturnLab, best_of, build
from lab.textedit import named, yaml_edited
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools()

FRA, AMS = INSIDE["fra"][0], INSIDE["ams"][0]  # our addresses on the two tunnels: the TGW's peers


@pytest.fixture(scope="module")
def rl() -> Iterator[ReturnLab]:
    with lab() as lb:
        r = build(lb, learn=True)
        wait_for("the site at the TGW over both tunnels", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
        yield r


def test_the_tgw_picks_by_awss_order_and_answers_through_the_outbound_egress(rl: ReturnLab) -> None:
    before = rl.arrived()
    got = rl.stream(1.0, rate=200)()
    after = rl.arrived()
    assert got["received"] == 200
    # symmetric: every answer comes back through fra, the egress the TGW's prefixes leave by
    assert (after["fra"] - before.get("fra", 0), after["ams"] - before.get("ams", 0)) == (200, 0)
    for prefix in SITE:
        held = rl.tgw_paths(prefix)
        assert held == {FRA: {"med": 100, "as_path": 1}, AMS: {"med": 200, "as_path": 1}}, prefix
        assert rl.tgw_best(prefix) == [FRA], prefix  # equal AS paths: the lower MED (AWS's order), i.e. fra
    # the Azure gateway (AS 65515, APIPA addresses, hold 180 s) is steered by prepending, as Azure documents
    vfra, vams = AZURE_INSIDE["fra"][0], AZURE_INSIDE["ams"][0]
    wait_for("the site at the Azure gateway", lambda: len(rl.tgw_paths(SITE[0], rl.vnet)) == 2, timeout=30)
    assert rl.tgw_paths(SITE[0], rl.vnet) == {vfra: {"med": 0, "as_path": 1}, vams: {"med": 0, "as_path": 4}}
    assert rl.vnet_best(SITE[0]) == [vfra]
    hold = rl.vnet.vtysh("show bgp neighbors 169.254.21.1 json")["169.254.21.1"]
    assert (hold["bgpTimerHoldTimeMsecs"], hold["bgpTimerKeepAliveIntervalMsecs"]) == (180000, 60000)
    status = json.loads(rl.ctl("status", "--json").stdout)
    rows = {r["peer"]: r for r in status["return_path"]}
    assert rows["tgw-fra"]["answers_through"] == "fra"
    assert (rows["tgw-fra"]["routes"], rows["tgw-fra"]["limit"]) == (2, 100)


def test_a_blackholed_tunnel_moves_the_replies_by_the_halves_and_they_come_back(rl: ReturnLab) -> None:
    rl.blackhole("fra", True)  # probes dropped on fra's tunnel; its BGP session stays up
    try:
        wait_for("the halves at the TGW via ams", lambda: rl.tgw_best("10.100.0.0/17") == [AMS], timeout=30)
        assert rl.tgw.established("169.254.10.1")  # the session via fra never went down
        for prefix in SITE:
            assert rl.tgw_best(prefix) == [AMS], prefix  # the withdrawal over fra arrived here (the session is up)
        # a longest-prefix match now lands on ams whatever the fra session still holds
        assert all(rl.tgw_best(h) == [AMS] for h in ("10.100.0.0/17", "10.100.128.0/17", "10.101.128.0/17"))
        explained = rl.ctl("explain", "10.100.200.1").stdout
        assert "answers through ams" in explained
    finally:
        rl.blackhole("fra", False)
    # back after fra's hold-down (3 s): preferred again, the halves withdrawn
    wait_for("fra preferred again", lambda: rl.tgw_best("10.100.0.0/16") == [FRA], timeout=30)
    wait_for("the halves withdrawn", lambda: rl.tgw_paths("10.100.0.0/17") == {}, timeout=30)


def test_a_tunnel_cut_with_bgp_still_up_moves_the_replies_by_the_halves_alone(rl: ReturnLab) -> None:
    """Everything from us dropped on fra's tunnel: the TGW never hears the withdrawal (its session via fra stays
    up until its hold timer), yet its longest match for the site moves to ams: the halves over the live session."""
    before = rl.arrived()
    received = rl.stream(8.0, rate=500)  # the cloud's answers, bounded: 4,000 datagrams
    rl.blackhole("fra", True, everything=True)
    try:
        wait_for("replies via ams", lambda: rl.answers_via("10.100.200.1") == [AMS], timeout=20)
        assert rl.tgw.established("169.254.10.1")  # the dead session still looks up at the TGW
        assert FRA in {p["peerId"] for p in rl.tgw.routes()["10.100.0.0/16"]}  # its stale /16 is still held there
        assert rl.answers_via("10.101.0.1") == [AMS]
        got = received()
    finally:
        rl.blackhole("fra", False)
    after = rl.arrived()
    via = {egress: after[egress] - before.get(egress, 0) for egress in after}
    # real packets: the answers moved to ams and kept arriving; what was lost is measured by bench/returnpath.py
    assert via["ams"] > 0
    assert got["highest"] == 3999  # the last answers arrived
    assert got["received"] == via["fra"] + via["ams"]  # every answer came through one of the two tunnels
    print(f"answers lost while the return path moved: {got['lost']} of 4000 (at 500/s)")
    wait_for("fra preferred again", lambda: rl.answers_via("10.100.200.1") == [FRA], timeout=60)


IGNORE_MED = """route-map IGNORE-MED permit 10
 set metric 0
router bgp 64512
 address-family ipv4 unicast
  neighbor 169.254.10.1 route-map IGNORE-MED in
  neighbor 169.254.11.1 route-map IGNORE-MED in
  neighbor 169.254.11.1 maximum-prefix 4
"""


UNDO_IGNORE_MED = """router bgp 64512
 address-family ipv4 unicast
  no neighbor 169.254.10.1 route-map IGNORE-MED in
  no neighbor 169.254.11.1 route-map IGNORE-MED in
  no neighbor 169.254.11.1 maximum-prefix 4
no route-map IGNORE-MED permit 10
"""


def frr_config(rl: ReturnLab, text: str) -> None:
    """Apply configuration lines at the TGW and re-read what it holds from us."""
    rl.tgw.vtysh("configure terminal\n" + text)
    rl.tgw.vtysh("clear bgp ipv4 unicast * soft in")


def test_a_cloud_that_ignores_med_and_drops_a_session_over_its_limit(rl: ReturnLab) -> None:
    """The TGW ignores our MED (sets its own) and tears down the session via ams above 4 routes, as Azure does above
    its limit.  With tgw-ams ``max_routes: 4`` the session never goes over it, whatever the failover adds: the halves
    left out are chosen by the documented rule (the last site prefix's first); the halves that fit still take the
    replies to ams when fra's tunnel is cut with its session up, where the MED the TGW ignores could not."""
    original = rl.config.read_text()
    limited = yaml_edited(original, lambda d: named(d["cloud_peers"], "tgw-ams", key="name").update(max_routes=4))
    rl.config.write_text(limited)
    assert rl.ctl("reload").returncode == 0
    frr_config(rl, IGNORE_MED)
    try:
        wait_for("MED ignored at the TGW", lambda: {p["med"] for p in rl.tgw_paths(SITE[0]).values()} == {0}, 30)
        rl.blackhole("fra", True, everything=True)
        try:
            wait_for("replies via ams", lambda: rl.answers_via("10.100.200.1") == [AMS], timeout=20)
            assert rl.tgw.established("169.254.11.1")  # never over the limit: the session via ams stayed up
            ours = {p for p, paths in rl.tgw.routes().items() if any(x["peerId"] == AMS for x in paths)}
            assert ours == {*SITE, "10.100.0.0/17", "10.100.128.0/17"}  # 4: the halves of 10.101/16 left out
            rows = {r["peer"]: r for r in json.loads(rl.ctl("status", "--json").stdout)["return_path"]}
            assert (rows["tgw-ams"]["routes"], rows["tgw-ams"]["limit"]) == (4, 4)
            assert "route limit 4 of this session reached" in rl.ctl("explain", "10.101.0.1").stdout
        finally:
            rl.blackhole("fra", False)
    finally:
        frr_config(rl, UNDO_IGNORE_MED)
        rl.config.write_text(original)
        assert rl.ctl("reload").returncode == 0
    wait_for("fra preferred again", lambda: rl.answers_via("10.100.200.1") == [FRA], timeout=60)
    wait_for("MEDs heard again", lambda: rl.tgw_paths(SITE[0]).get(AMS, {}).get("med") == 200, timeout=30)


def reconciled(rl: ReturnLab) -> bool:
    p = rl.ctl("status", "--json")
    return p.returncode == 0 and bool(json.loads(p.stdout)["runtime"]["reconciled"])


def watch_site(rl: ReturnLab, limit: float) -> list[dict[str, dict[str, int]]]:
    """The TGW's site routes every 50 ms until the new helper has reconciled and sent the return path again, and
    2 s more (bounded by ``limit`` seconds): every distinct state seen, in order."""
    seen: list[dict[str, dict[str, int]]] = []
    deadline = time.monotonic() + limit
    done_at: float | None = None
    last_check = 0.0
    while time.monotonic() < deadline and (done_at is None or time.monotonic() < done_at + 2):
        now = rl.site_at_tgw()
        if not seen or seen[-1] != now:
            seen.append(now)
        if done_at is None and time.monotonic() - last_check > 1:
            last_check = time.monotonic()
            if reconciled(rl):
                done_at = time.monotonic()
        time.sleep(0.05)
    assert done_at is not None, "the new helper never reconciled"
    return seen


def test_a_helper_restart_flaps_nothing_towards_the_cloud(rl: ReturnLab) -> None:
    """Mid-failure (fra blackholed, the halves out on ams): until every cloud table is in again the new helper holds
    the return path back (what ExaBGP holds from the old one stays); then it sends the same, withdrawing nothing.

    With FRR as the cloud, the new helper's route refresh brings nothing back to it (ExaBGP 5.0.15 and FRR 8.4; with
    BIRD it does, in 1.2 s): its reconcile ends at the lab's ``agent.ready_timeout`` (10 s)."""
    rl.blackhole("fra", True)
    wait_for("the halves at the TGW", lambda: "10.100.0.0/17" in rl.site_at_tgw(), timeout=30)
    try:
        before = rl.site_at_tgw()
        old = rl.helper_pid()
        os.kill(old, signal.SIGKILL)  # ExaBGP starts a new helper; what it announced stays in ExaBGP
        wait_for("a new helper", lambda: rl.helper_pid() != old, timeout=60)
        seen = watch_site(rl, 120.0)
        assert seen == [before], seen[1:3]
    finally:
        rl.blackhole("fra", False)
    wait_for("the halves withdrawn after fra's return", lambda: "10.100.0.0/17" not in rl.site_at_tgw(), 60)


def test_google_picks_by_med_and_keeps_the_site_while_exabgp_restarts(rl: ReturnLab) -> None:
    """The Cloud Router picks by MED alone and is a graceful-restart helper, as Google documents: when ExaBGP dies
    (no NOTIFICATION) it keeps answering through fra on our stale routes, while the TGW (AWS: no graceful restart)
    drops them; the new ExaBGP and helper send the return path again and then End-of-RIB, which makes them current.
    Last in this module: it restarts ExaBGP."""
    cr_fra, cr_ams = GCP_INSIDE["fra"][0], GCP_INSIDE["ams"][0]
    wait_for("the site at the Cloud Router", lambda: len(rl.tgw_paths(SITE[0], rl.cr)) == 2, timeout=30)
    assert rl.tgw_paths(SITE[0], rl.cr) == {cr_fra: {"med": 100, "as_path": 1}, cr_ams: {"med": 200, "as_path": 1}}
    assert best_of(rl.cr.routes()[SITE[0]]) == [cr_fra]
    rl.kill_exabgp()
    wait_for("the TGW drops the site", lambda: SITE[0] not in rl.tgw.routes(), timeout=30)
    held = rl.cr.routes().get(SITE[0], [])
    assert {p["peerId"] for p in held} == {cr_fra, cr_ams}, held
    assert all(p.get("stale") for p in held), held  # kept as stale: the Cloud Router still answers through fra
    assert best_of(held) == [cr_fra]
    rl.start_exabgp()
    gaps = 0
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # bounded: 0.1 s polls for at most 90 s
        paths = rl.cr.routes().get(SITE[0], [])
        gaps += not paths
        if len(paths) == 2 and not any(p.get("stale") for p in paths):
            break
        time.sleep(0.1)
    paths = rl.cr.routes().get(SITE[0], [])
    assert len(paths) == 2, paths
    assert not any(p.get("stale") for p in paths), paths  # End-of-RIB came: current again
    assert gaps == 0  # the Cloud Router never lost the site
    assert best_of(paths) == [cr_fra]
    wait_for("the site back at the TGW", lambda: rl.tgw_best(SITE[0]) == [FRA], timeout=60)


LEAK = "192.0.2.0/24"  # a core network outside the site's prefix set


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
    """site.learn: the core announces a site network; the TGW gets it by the return path's rules, never a core
    network outside the prefix set, and loses it when the core withdraws it."""
    sh("ip", "route", "add", "blackhole", LEAK, ns=rl.lab.ns("core"))
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
    """A learned site network survives a helper kill (the state file, then the core's refresh confirms it) and a
    reset of the core's session (held, then announced again)."""
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
    core_network(rl, LEARNED, on=False)
    wait_for("the TGW without it", lambda: LEARNED not in rl.tgw.routes(), timeout=20)
