"""Tunnels as a health input on real daemons and real WireGuard (lab/returnlab.py with ``tunnel=``): the TGW's
two egresses run through wireguard-go tunnels; bgpsteer watches them.  A tunnel that goes down takes its egress
out at once (no probe rounds), and the replies move with it; a tunnel coming up brings nothing back by itself."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.netlab import lab, sh, wait_for
from lab.returnlab import INSIDE, SITE, ReturnLab, build, with_tunnels
from lab.textedit import yaml_edited
from lab.wgtunnel import add_peer, remove_peer
from tests.integration.needs import lab_tools

pytestmark = pytest.mark.integration
lab_tools("wireguard-go", "wg")

AMS = INSIDE["ams"][0]


@pytest.fixture(scope="module")
def rl() -> Iterator[ReturnLab]:
    with lab() as lb:
        r = build(lb, tunnel="interface")
        wait_for("the site at the TGW over both tunnels", lambda: all(len(r.tgw_paths(p)) == 2 for p in SITE), 90)
        yield r


def egress(r: ReturnLab, name: str) -> dict[str, Any]:
    p = r.ctl("show", "egress", "--json")
    assert p.returncode == 0, p.stderr
    return next(e for e in json.loads(p.stdout)["egresses"] if e["egress"] == name)


def tunnel_is(r: ReturnLab, name: str, status: str) -> bool:
    t = egress(r, name)["tunnel"]
    return t is not None and t["status"] == status


def test_a_tunnel_link_down_takes_its_egress_out_at_once_and_only_the_probes_bring_it_back(rl: ReturnLab) -> None:
    wait_for("fra's tunnel up", lambda: tunnel_is(rl, "fra", "up"), timeout=30)
    dev = rl.wg["fra"].dev_a
    sh("ip", "link", "set", dev, "down", ns=rl.lab.ns("rs"))
    try:
        wait_for("replies via ams", lambda: rl.answers_via("10.100.200.1") == [AMS], timeout=10)
        e = egress(rl, "fra")
        assert (e["in_service"], e["health"]["state"], e["tunnel"]["status"]) == (False, "down", "down")
        assert e["health"]["tunnel_down"] == f"interface {dev} link down"  # the tunnel's event, not probe rounds
        shown = rl.ctl("show", "egress").stdout
        assert f"fra: tunnel down: interface {dev} link down (holds the egress down" in shown
    finally:
        sh("ip", "link", "set", dev, "up", ns=rl.lab.ns("rs"))
    wait_for("fra's tunnel read up", lambda: tunnel_is(rl, "fra", "up"), timeout=10)
    e = egress(rl, "fra")
    assert not e["in_service"]  # the tunnel alone brings nothing back: rise 3 probe rounds, then hold-down 3 s
    assert e["health"]["tunnel_down"] is None
    wait_for("fra back in service", lambda: egress(rl, "fra")["in_service"], timeout=30)


def test_a_removed_wireguard_peer_takes_its_egress_out(rl: ReturnLab) -> None:
    """The config switches fra and ams to ``type: wireguard`` (a reload); fra's peer is then removed at the route
    server (a revoked key): the handshake reader sees it within its 50 ms interval."""
    rl.config.write_text(yaml_edited(rl.config.read_text(), lambda d: with_tunnels(d, "wireguard", rl.wg)))
    assert rl.ctl("reload").returncode == 0
    wait_for("fra's WireGuard peer read up", lambda: tunnel_is(rl, "fra", "up"), timeout=30)
    assert egress(rl, "fra")["tunnel"]["handshake_age"] is not None
    remove_peer(rl.lab, rl.wg["fra"])
    try:
        wait_for("fra out", lambda: not egress(rl, "fra")["in_service"], timeout=5)
        e = egress(rl, "fra")
        assert e["tunnel"]["status"] == "down"
        assert "not on" in e["health"]["tunnel_down"]
        wait_for("replies via ams", lambda: rl.answers_via("10.100.200.1") == [AMS], timeout=10)
    finally:
        add_peer(rl.lab, rl.wg["fra"])
    wait_for("fra back in service", lambda: egress(rl, "fra")["in_service"], timeout=60)


def test_a_helper_restarted_while_a_tunnel_is_down_keeps_its_egress_out(rl: ReturnLab) -> None:
    dev = rl.wg["fra"].dev_a
    sh("ip", "link", "set", dev, "down", ns=rl.lab.ns("rs"))
    try:
        wait_for("fra out", lambda: not egress(rl, "fra")["in_service"], timeout=10)
        old = rl.helper_pid()
        os.kill(old, signal.SIGKILL)
        wait_for("a new helper", lambda: rl.helper_pid() != old, timeout=60)
        deadline = time.monotonic() + 8
        seen = set()
        while time.monotonic() < deadline:  # bounded: 0.1 s polls for 8 s
            seen.add(tuple(rl.core.routes().get("10.255.0.1/32", [])) != ())
            time.sleep(0.1)
        assert seen == {False}  # fra's next-hop never came back to the core
        assert not egress(rl, "fra")["in_service"]
    finally:
        sh("ip", "link", "set", dev, "up", ns=rl.lab.ns("rs"))
    wait_for("fra back in service", lambda: egress(rl, "fra")["in_service"], timeout=60)
