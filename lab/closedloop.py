"""The closed loop's lab (tests/integration/test_drift.py, bench/drift.py): lab/topology.py with core1 read two
ways at once, ``monitor: {cli: frr}`` (vtysh in the core's namespace) and ``bmp`` (the core connects to bgpsteer's
station with the block ``bgpsteer core-config --target frr-bmp`` renders, applied as an operator would), and relief
on for fra and ams (1 Gbit/s each, 1 s hold); plus the injections on the core and the readings of ``verify``."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from lab.netlab import Lab
from lab.textedit import named, yaml_edited
from lab.topology import LAB_CONFIG, Topology, build

PREFIX = "10.10.0.0/16"  # via fra (local-pref 200) and ams (160)
NEIGHBOR = "router bgp 65000\n address-family ipv4 unicast\n  "  # then a neighbor statement of the core's


def monitored(lb: Lab, interval: float = 1, window: float = 2, resync: float = 4) -> Topology:
    """The lab, its agent reading core1 every ``interval`` s by CLI and continuously by BMP, drift after ``window``
    s, a BMP resync after ``resync`` s of BMP drift."""
    command = ["vtysh", "--vty_socket", str(lb.path("frr-core")), "-c", "show bgp ipv4 unicast json"]

    def edit(d: dict[str, Any]) -> None:
        core = named(d["core_routers"], "core1", key="name")
        core["monitor"] = {
            "cli": "frr",
            "command": command,
            "netns": lb.ns("core"),
            "interval": interval,
            "window": window,
            "bmp": {"listen": "10.250.0.1", "port": 11019, "resync_interval": resync},
        }
        for egress in ("fra", "ams"):
            named(d["egresses"], egress, key="id")["capacity_mbps"] = 1000
        d.setdefault("steering", {})["relief"] = {"threshold_pct": 80, "release_pct": 60, "hold": 1}

    source = lb.path("drift-source.yaml")
    source.write_text(yaml_edited(LAB_CONFIG.read_text(), edit))
    t = build(lb, source)
    rendered = subprocess.run(
        [sys.executable, "-m", "bgpsteer", "core-config", str(source), "--target", "frr-bmp"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    t.core.vtysh("configure terminal\n" + rendered)
    with open(t.core.rundir / "frr.conf", "a") as conf:  # kept across a restart of the core's bgpd
        conf.write(rendered)
    return t


def core_config(t: Topology, lines: str) -> None:
    """Configure the core and apply its inbound policy again at once (soft, from its Adj-RIB-In)."""
    t.core.vtysh("configure terminal\n" + lines)
    t.core.vtysh("clear bgp ipv4 unicast * soft in")


def route_map_local_pref(t: Topology, on: bool, value: int = 7) -> None:
    """A route-map on the core's session with the route server setting LOCAL_PREF on PREFIX (a core-side policy)."""
    if on:
        core_config(
            t,
            f"ip prefix-list DRIFT seq 5 permit {PREFIX}\n"
            f"route-map DRIFT permit 10\n match ip address prefix-list DRIFT\n set local-preference {value}\n"
            "route-map DRIFT permit 20\n" + NEIGHBOR + "neighbor 10.250.0.1 route-map DRIFT in\n",
        )
    else:
        core_config(t, NEIGHBOR + "no neighbor 10.250.0.1 route-map DRIFT in\n")


def drop_update(t: Topology, on: bool) -> None:
    """The core drops PREFIX on input (an inbound filter: as if its UPDATE never arrived)."""
    if on:
        core_config(
            t,
            f"ip prefix-list DROP seq 5 deny {PREFIX}\nip prefix-list DROP seq 10 permit 0.0.0.0/0 le 32\n"
            + NEIGHBOR
            + "neighbor 10.250.0.1 prefix-list DROP in\n",
        )
    else:
        core_config(t, NEIGHBOR + "no neighbor 10.250.0.1 prefix-list DROP in\n")


def verify(t: Topology) -> tuple[int, dict[str, Any]]:
    p = t.cli("verify", "--json")
    return p.returncode, json.loads(p.stdout) if p.stdout else {}


def drift_of(t: Topology, kind: str, source: str = "cli") -> set[str]:
    """The prefixes ``source`` shows as drift of ``kind``."""
    _, r = verify(t)
    return {d["prefix"] for c in r.get("cores", []) if c["source"] == source for d in c["drift"] if d["kind"] == kind}
