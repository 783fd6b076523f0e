"""SteeringState's alarms and reloads, exactly: fail static (whole and per class), what a reload withdraws and keeps.

The alarms are what the NOC is paged with and the journal keeps; their level, words and fields are asserted.
"""

from __future__ import annotations

import itertools
from typing import Any

from bgpsteer.config.loader import parse
from bgpsteer.core.events import Announce, Effect, EgressChanged, Log, Withdraw
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import DEFAULT_SCOPE, Scope
from bgpsteer.core.steering import SteeringState
from lab.textedit import named, yaml_edited
from tests.unit.helpers import ACCEPT_ALL

EGRESS = (
    "  - {{id: {id}, region: r{n}, jurisdiction: EU, next_hop: 10.255.0.{n},\n"
    "     probe: {{type: udp, port: 7, targets: [192.0.2.{n}], window: 500}},\n"
    "     health: {{rise: 1, fall: 1, hold_down: 0, dampening: false}}}}\n"
)
CLASS = """
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
  - {name: core1-rt, address: 10.0.8.2, asn: 65000, class: realtime}
classes:
  - name: realtime
    sla: {latency_ms: 40}
    rise: 1
    fall: 1
    hold_down: 0
"""


def text(ids: tuple[str, ...] = ("fra", "ams", "lon"), classes: bool = True, extra: str = "") -> str:
    egresses = "".join(EGRESS.format(id=e, n=i + 1) for i, e in enumerate(ids))
    cores = CLASS if classes else "core_routers:\n  - {name: core1, address: 10.0.0.2, asn: 65000}\n"
    return (
        "agent: {local_asn: 65000, router_id: 10.0.0.1}\negresses:\n"
        + egresses
        + "cloud_peers:\n  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: x}\n"
        + cores
        + extra
        + ACCEPT_ALL
    )


def state(t: str | None = None) -> SteeringState:
    counter = itertools.count(1)
    s = SteeringState(parse(t or text(), "t.yaml"), 0.0, lambda: next(counter))
    s.start(0.0)
    return s


def rtt(s: SteeringState, egress: str, ms: float | None, now: float) -> list[Effect]:
    n = {"fra": 1, "ams": 2, "lon": 3}[egress]
    return s.probe_round(egress, [Sample(f"192.0.2.{n}", ms is not None, ms, "" if ms is not None else "timeout")], now)


def warm(s: SteeringState, egresses: tuple[str, ...], ms: float, now: float, rounds: int = 25) -> None:
    for i in range(rounds):
        for e in egresses:
            rtt(s, e, ms, now + i * 0.01)


def slow(s: SteeringState, egress: str, now: float, ms: float = 90.0) -> list[Effect]:
    """Rounds at ``ms`` until the smoothed latency is past 40 ms (EWMA, 1/8 gain: six rounds from 10 ms)."""
    out: list[Effect] = []
    for i in range(6):
        out += rtt(s, egress, ms, now + i * 0.01)
    return out


def logs(effects: list[Effect]) -> list[tuple[str, str, dict[str, object]]]:
    return [(e.level, e.message, e.fields) for e in effects if isinstance(e, Log)]


def nh(effects: list[Effect], scope: Scope = DEFAULT_SCOPE) -> tuple[list[str], list[str]]:
    return (
        sorted(p for e in effects if isinstance(e, Announce) and e.scope == scope for p in e.prefixes),
        sorted(p for e in effects if isinstance(e, Withdraw) and e.scope == scope for p in e.prefixes),
    )


def test_fail_static_engages_when_all_probed_egresses_fail_and_clears_once() -> None:
    s = state(text(classes=False))
    rtt(s, "fra", None, 1.0)
    rtt(s, "ams", None, 1.0)
    assert s.in_service_default == {"lon"}
    assert not s.fail_static
    effects = rtt(s, "lon", None, 1.0)  # 3 of 3 down: the prober is broken, not the network
    assert s.fail_static
    assert (
        "error",
        "FAIL STATIC: 3 of 3 probed egresses down at once (max_down 2); the probe host is likelier broken than the "
        "network: keeping the last good announcements",
        {"down": "ams,fra,lon"},
    ) in logs(effects)
    assert nh(effects) == ([], [])  # lon stays announced
    assert s.in_service_default == {"lon"}
    (changed,) = [e for e in effects if isinstance(e, EgressChanged)]
    assert changed.in_service
    assert changed.reason.endswith("; FAIL STATIC: kept in service")
    again = rtt(s, "lon", None, 1.1)
    assert not [m for _, m, _ in logs(again) if "FAIL STATIC" in m]  # alarmed once, not every round
    back = rtt(s, "fra", 5.0, 2.0) + s.tick(2.0)
    assert not s.fail_static
    assert ("warning", "fail static cleared: probes agree with the network again", {}) in logs(back)
    assert nh(back) == (["10.255.0.1/32"], ["10.255.0.3/32"])  # now the probes are believed: fra in, lon out


def test_fail_static_follows_max_down() -> None:
    s = state(text(classes=False, extra="steering: {max_down: 1}\n"))
    rtt(s, "fra", None, 1.0)
    effects = rtt(s, "ams", None, 1.0)
    assert s.fail_static
    assert logs(effects)[-1][1].startswith("FAIL STATIC: 2 of 3 probed egresses down at once (max_down 1)")
    assert s.in_service_default == {"ams", "lon"}  # fra alone was within max_down: withdrawn before


def test_fail_static_after_a_restart_keeps_what_was_announced_before() -> None:
    counter = itertools.count(1)
    s = SteeringState(parse(text(classes=False), "t.yaml"), 0.0, lambda: next(counter))
    s.restore({"in_service": {"": ["ams"]}}, 0.0)
    for e in ("fra", "ams", "lon"):
        rtt(s, e, None, 1.0)
    assert s.fail_static
    effects = s.start(1.0)
    assert nh(effects) == (["10.255.0.2/32"], [])


def test_a_class_without_a_fitting_egress_holds_its_last_good_set() -> None:
    s = state()
    warm(s, ("fra", "ams", "lon"), 10.0, 1.0)
    assert s.in_service[Scope("realtime")] == {"fra", "ams", "lon"}
    slow(s, "fra", 2.0)
    slow(s, "ams", 2.0)
    assert s.in_service[Scope("realtime")] == {"lon"}
    effects = slow(s, "lon", 2.0)  # none fits: keep lon (a degraded path beats none)
    assert s.class_static == {"realtime"}
    assert (
        "error",
        "class realtime: FAIL STATIC: no egress meets its SLA; keeping lon (a degraded path beats none)",
        {"class": "realtime"},
    ) in logs(effects)
    assert nh(effects, Scope("realtime")) == ([], [])
    assert s.in_service[Scope("realtime")] == {"lon"}
    (changed,) = [e for e in effects if isinstance(e, EgressChanged)]
    assert (changed.app_class, changed.in_service) == ("realtime", True)
    assert changed.reason.endswith("; FAIL STATIC: kept in service")
    assert s.in_service_default == {"fra", "ams", "lon"}  # health is fine: the default sessions keep all
    fits = slow(s, "ams", 3.0, ms=1.0) + slow(s, "ams", 3.1, ms=1.0) + s.tick(3.2)
    assert s.class_static == set()
    assert ("warning", "class realtime: an egress meets the SLA again; fail static cleared", {"class": "realtime"}) in (
        logs(fits)
    )
    assert nh(fits, Scope("realtime")) == (["10.255.0.2/32"], ["10.255.0.3/32"])


def test_a_class_in_fail_static_that_loses_its_kept_egress_keeps_every_healthy_one() -> None:
    s = state()
    warm(s, ("fra", "ams", "lon"), 90.0, 1.0)  # nothing fits once warmed up: fra, ams leave, lon is kept
    assert s.class_static == {"realtime"}
    assert s.in_service[Scope("realtime")] == {"lon"}
    assert [m for _, m, _ in logs(rtt(s, "fra", 90.0, 2.0)) if "FAIL STATIC" in m] == []  # once only
    effects = rtt(s, "lon", None, 2.0)  # lon fails health: nothing kept is healthy, so every healthy one is kept
    assert nh(effects, Scope("realtime")) == (["10.255.0.1/32", "10.255.0.2/32"], ["10.255.0.3/32"])
    assert s.in_service[Scope("realtime")] == {"fra", "ams"}


def test_a_class_without_fail_static_gets_nothing() -> None:
    s = state(yaml_edited(text(), lambda doc: named(doc["classes"], "realtime", "name").update(fail_static=False)))
    warm(s, ("fra", "ams", "lon"), 90.0, 1.0)
    assert s.in_service[Scope("realtime")] == set()
    assert s.class_static == set()


def test_transitions_are_logged_with_their_subject_and_level() -> None:
    s = state()
    warm(s, ("fra", "ams", "lon"), 10.0, 1.0)
    slowed = slow(s, "fra", 2.0)
    first = logs(slowed)[0]
    assert first[0] == "warning"
    assert first[1].startswith("egress fra SLA fit for class realtime up -> down: 1 bad probe rounds in a row")
    assert first[2] == {"egress": "fra"}
    assert (
        "warning",
        "egress fra out of service for class realtime: next-hop route withdrawn, the core fails over to its backup "
        "paths",
        {"egress": "fra"},
    ) in logs(slowed)
    (changed,) = [e for e in slowed if isinstance(e, EgressChanged)]
    assert (changed.app_class, changed.in_service) == ("realtime", False)
    good = slow(s, "fra", 3.0, ms=1.0) + slow(s, "fra", 3.1, ms=1.0)
    assert logs(good)[0][0] == "info"
    assert logs(good)[0][1].startswith("egress fra SLA fit for class realtime down -> recovering: ")
    assert ("info", "egress fra in service for class realtime: next-hop route announced", {"egress": "fra"}) in logs(
        good + s.tick(4.0)
    )
    health = rtt(s, "ams", None, 5.0)
    assert logs(health)[0][:2] == (
        "warning",
        "egress ams health up -> down: 1 bad probe rounds in a row (fall 1): 0/1 targets answered, need 1 "
        "(192.0.2.2: timeout)",
    )


def test_a_reload_withdraws_removed_and_renumbered_egresses_and_keeps_the_rest() -> None:
    s = state()
    warm(s, ("fra", "ams", "lon"), 10.0, 1.0)
    rtt(s, "lon", None, 2.0)  # lon down before the reload
    assert s.health["lon"].state == "down"
    stats_fra = s.stats["fra"]
    # ams removed; fra renumbered (another next-hop); lon kept as it was

    def change(doc: dict[str, Any]) -> None:
        named(doc["egresses"], "fra")["next_hop"] = "10.255.0.9"
        named(doc["egresses"], "lon").update(region="r3", next_hop="10.255.0.3")

    new = yaml_edited(text(("fra", "lon")), change)
    effects = s.configure(parse(new, "t.yaml"), 3.0)
    withdrawn = {(e.scope, p) for e in effects if isinstance(e, Withdraw) for p in e.prefixes}
    assert withdrawn == {
        (DEFAULT_SCOPE, "10.255.0.1/32"),
        (DEFAULT_SCOPE, "10.255.0.2/32"),
        (Scope("realtime"), "10.255.0.1/32"),
        (Scope("realtime"), "10.255.0.2/32"),
    }
    assert nh(effects) == (["10.255.0.9/32"], ["10.255.0.1/32", "10.255.0.2/32"])  # fra again, at its new address
    assert s.health["lon"].state == "down"  # health survives a reload
    assert s.stats["fra"] is stats_fra  # and so do measurements
    assert set(s.egresses) == {"fra", "lon"}


def test_a_reload_that_drops_a_class_withdraws_its_scope() -> None:
    s = state()
    warm(s, ("fra", "ams", "lon"), 10.0, 1.0)
    s.drain("ams", True)
    effects = s.configure(parse(text(classes=False), "t.yaml"), 2.0)
    assert nh(effects, Scope("realtime")) == ([], ["10.255.0.1/32", "10.255.0.2/32", "10.255.0.3/32"])
    assert Scope("realtime") not in s.in_service
    assert s.class_static == set()
    assert s.drained == {"ams"}
    assert nh(effects) == ([], [])  # the default sessions keep theirs


def test_a_reload_before_start_sends_nothing() -> None:
    counter = itertools.count(1)
    s = SteeringState(parse(text(), "t.yaml"), 0.0, lambda: next(counter))
    assert s.configure(parse(text(("fra",)), "t.yaml"), 1.0) == []
    assert set(s.health) == {"fra"}
