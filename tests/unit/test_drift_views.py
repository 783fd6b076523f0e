"""Drift in the NOC's views: ``show routes --drift`` keeps only the prefixes a monitored core holds otherwise than
intended, each with its words per core and source; ``explain`` says per core and source what the core holds at
its last reading (uses fra, as intended / NOT as intended), or that it is unknown and why."""

from __future__ import annotations

import click
import pytest

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.drift import CorePath, Drift, Tracker
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import RoutesAnnounced
from bgpsteer.core.view import CoreView
from bgpsteer.noc import queries, tables
from bgpsteer.noc.port import CoreDrift
from tests.unit.helpers import ACCEPT_ALL, BASE


def view() -> CoreView:
    core = "{name: core1, address: 10.0.0.2, asn: 65000, families: [ipv4, ipv6]}"
    monitored = BASE.replace(core, core[:-1] + ", monitor: {cli: frr, bmp: {listen: 10.0.0.1}}}")
    assert monitored.count("monitor:") == 1
    eng = Engine(parse(monitored + ACCEPT_ALL, "test.yaml"))
    for peer, asn in (("10.1.0.2", 64512), ("10.2.0.2", 16550)):
        attrs = Attrs(next_hop=peer, as_path=(asn,), origin="igp")
        eng.handle(RoutesAnnounced(peer, 4, attrs, ["10.10.0.0/16", "10.20.0.0/16"]), 0)
    eng.flush(0)
    return CoreView(eng)


def states() -> dict[tuple[str, str], CoreDrift]:
    cli = CoreDrift("core1", Tracker(10), "cli", read_at=5.0)
    cli.drift = [Drift("10.20.0.0/16", "local-pref", "the core holds the path via fra with LOCAL_PREF 7, not 100")]
    cli.held = {
        "10.10.0.0/16": [CorePath("10.255.0.1", 100, True, True), CorePath("10.255.0.2", 100, False, True)],
        "10.20.0.0/16": [CorePath("10.255.0.1", 7, True, True)],
    }
    bmp = CoreDrift("core1", Tracker(10), "bmp", error="the BMP session from 10.0.0.2 ended (closed by the core)")
    return {("core1", "cli"): cli, ("core1", "bmp"): bmp}


def test_show_routes_drift_keeps_only_the_prefixes_that_drift() -> None:
    v = view()
    everything = queries.routes(v, drift=states())
    assert [r["prefix"] for r in everything["routes"]] == ["10.10.0.0/16", "10.20.0.0/16"]
    only = queries.routes(v, drift=states(), only_drift=True)
    assert [(r["prefix"], r["drift"]) for r in only["routes"]] == [
        ("10.20.0.0/16", ["core1 (cli): the core holds the path via fra with LOCAL_PREF 7, not 100"])
    ]
    assert only["total"] == 1
    text = tables.routes_text(only)
    assert "NOT as intended on the core (bgpsteer verify):\n  10.20.0.0/16: core1 (cli): the core holds" in text
    assert queries.routes(v, drift={}, only_drift=True)["routes"] == []


def test_explain_says_what_each_core_holds_and_whether_it_is_as_intended() -> None:
    v = view()
    ok = queries.explain(v, "10.10.0.0/16", drift=states())["core_view"]
    assert [(c["source"], c["state"]) for c in ok] == [("cli", "as intended"), ("bmp", "unknown")]
    text = click.unstyle(tables.explain_text(queries.explain(v, "10.10.0.0/16", drift=states()), "10.10.0.0/16"))
    assert "core1 (cli): uses fra (local-pref 100), as intended" in text
    assert "core1 (bmp): unknown: the BMP session from 10.0.0.2 ended (closed by the core)" in text
    bad = click.unstyle(tables.explain_text(queries.explain(v, "10.20.0.0/16", drift=states()), "10.20.0.0/16"))
    assert "core1 (cli): NOT as intended: the core holds the path via fra with LOCAL_PREF 7, not 100" in bad
    none = queries.explain(v, "10.10.0.0/16")["core_view"]
    assert [c["why"] for c in none] == ["no reading yet", "no reading yet"]


def test_explain_answers_for_a_prefix_only_a_core_holds() -> None:
    """bgpsteer announces nothing for 10.99.0.0/16 but the core keeps a stale path for it (left after a restart):
    explain shows the core's view (longest match for an address), not "no route"; nothing held: still not found."""
    s = states()
    stale = "the core keeps a stale path via fra (graceful restart: the session it came from is down)"
    s["core1", "cli"].held = dict(s["core1", "cli"].held) | {"10.99.0.0/16": [CorePath("10.255.0.1", 100, True, True)]}
    s["core1", "cli"].drift = [*s["core1", "cli"].drift, Drift("10.99.0.0/16", "stale", stale)]
    x = queries.explain(view(), "10.99.7.1", drift=s)
    assert (x["match"], x["core_only"]) == ("10.99.0.0/16", True)
    assert [(c["source"], c["state"], c["drift"]) for c in x["core_view"]] == [
        ("cli", "NOT as intended", [stale]),
        ("bmp", "unknown", []),
    ]
    text = click.unstyle(tables.explain_text(x, "10.99.7.1"))
    assert "10.99.0.0/16 (longest match for 10.99.7.1): bgpsteer announces nothing for it, yet a core holds it" in text
    assert f"core1 (cli): NOT as intended: {stale}" in text
    for missing in ("10.98.0.1", "10.98.0.0/16"):
        with pytest.raises(queries.QueryError, match="no route in bgpsteer's RIB covers it"):
            queries.explain(view(), missing, drift=s)
    with pytest.raises(queries.QueryError, match="not an address or prefix"):
        queries.explain(view(), "nowhere", drift=s)


def test_check_says_when_a_monitor_source_cannot_work_on_this_machine() -> None:
    core = "{name: core1, address: 10.0.0.2, asn: 65000, families: [ipv4, ipv6]}"
    text = BASE.replace(
        core, core[:-1] + ", monitor: {cli: frr, command: [no-such-vtysh-here, -c, x], bmp: {listen: 192.0.2.77}}}"
    )
    warnings = parse(text + ACCEPT_ALL, "test.yaml").warnings
    assert any(
        w.startswith("test.yaml: core_routers[0].monitor.command: 'no-such-vtysh-here' is not on this machine")
        for w in warnings
    ), warnings
    assert any(
        w.startswith("test.yaml: core_routers[0].monitor.bmp.listen: cannot listen on 192.0.2.77 here")
        for w in warnings
    ), warnings
    fine = BASE.replace(core, core[:-1] + ", monitor: {cli: frr, command: [python3, -c, x], bmp: {listen: 127.0.0.1}}}")
    assert not any("monitor" in w for w in parse(fine + ACCEPT_ALL, "test.yaml").warnings)


def test_the_stations_allow_list_is_addresses_and_defaults_to_none_given() -> None:
    core = "{name: core1, address: 10.0.0.2, asn: 65000, families: [ipv4, ipv6]}"
    given = BASE.replace(core, core[:-1] + ", monitor: {bmp: {listen: 127.0.0.1, allow: [10.9.9.9, '::1']}}}")
    c = parse(given + ACCEPT_ALL, "test.yaml").core_routers[0]
    assert c.monitor is not None
    assert c.monitor.bmp is not None
    assert c.monitor.bmp.allow == ("10.9.9.9", "::1")
    bad = BASE.replace(core, core[:-1] + ", monitor: {bmp: {listen: 127.0.0.1, allow: [core7]}}}")
    with pytest.raises(ConfigError, match=r"core_routers\[0\]\.monitor\.bmp\.allow\[0\]: 'core7' does not appear"):
        parse(bad + ACCEPT_ALL, "test.yaml")
