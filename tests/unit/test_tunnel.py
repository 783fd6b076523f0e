"""An egress's tunnel as a health input (core/tunnel.py, core/health.py, core/steering.py): down takes the egress
out at once; up only lets the probes bring it back; rekeys, clock jumps and unreadable tunnels move nothing."""

from __future__ import annotations

from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Effect, Withdraw
from bgpsteer.core.health import EgressHealth
from bgpsteer.core.measure import Sample
from bgpsteer.core.model import Dampening, Health, Tunnel
from bgpsteer.core.tunnel import TunnelFacts, TunnelState

WG = Tunnel("wireguard", "wg-fra", reject_after=180.0, key_max_age=600.0)
LINK = Tunnel("interface", "vti-fra")


def wg(stamp: float | None, age: float | None, present: bool = True) -> TunnelFacts:
    return TunnelFacts("fra", True, present, handshake_stamp=stamp, handshake_age=age)


def link(up: bool, present: bool = True) -> TunnelFacts:
    return TunnelFacts("fra", True, present, link_up=up)


def test_a_link_goes_down_and_up_and_a_device_never_seen_is_unknown() -> None:
    t = TunnelState("fra", LINK, 0.0)
    assert t.observe(link(False, present=False), 0.0) is None  # never seen: unknown, as at the start
    assert t.status == "unknown"
    change = t.observe(link(True), 1.0)
    assert change is not None
    assert (change.old, change.new) == ("unknown", "up")
    change = t.observe(link(False), 2.0)
    assert change is not None
    assert (change.new, change.why) == ("down", "interface vti-fra link down")
    assert t.observe(link(True), 3.0) is not None
    change = t.observe(link(False, present=False), 4.0)  # seen before, now gone: the tunnel is down
    assert change is not None
    assert (change.new, change.why) == ("down", "interface vti-fra is gone")
    assert t.downs == 2


def test_wireguard_is_down_without_a_handshake_and_after_reject_after() -> None:
    t = TunnelState("fra", WG, 0.0)
    change = t.observe(wg(None, None), 0.0)
    assert change is not None
    assert (change.new, change.why) == ("down", "wireguard wg-fra: no handshake with its peer yet")
    assert t.observe(wg(1000.0, 5.0), 1.0) is not None
    assert t.status == "up"
    assert t.observe(wg(1000.0, 180.0), 176.0) is None  # 5 + 175 s: still within 180 s
    assert t.why == "wireguard wg-fra: latest handshake 180s ago"  # unchanged state, its words kept current
    change = t.observe(wg(1000.0, 186.0), 182.0)
    assert change is not None
    assert (change.old, change.new) == ("up", "down")
    assert change.why == "wireguard wg-fra: latest handshake 186s ago, over 180s"


def test_a_rekey_moves_nothing_and_is_counted() -> None:
    t = TunnelState("fra", WG, 0.0)
    t.observe(wg(1000.0, 0.0), 0.0)
    for n in range(1, 6):  # a new handshake every two minutes while data flows
        assert t.observe(wg(1000.0 + 120 * n, 0.2), 120.0 * n) is None
    assert (t.status, t.handshakes) == ("up", 6)
    assert t.handshake_age(650.0) is not None
    assert not t.key_too_old(650.0)
    assert t.key_too_old(600.0 + 601.0)
    fresh = TunnelState("fra", WG, 0.0)
    fresh.observe(wg(5000.0, 0.0), 0.0)
    assert not fresh.key_too_old(600.0)  # exactly key_max_age old: not yet
    assert fresh.key_too_old(600.5)


def test_a_wall_clock_jump_ages_nothing() -> None:
    t = TunnelState("fra", WG, 0.0)
    t.observe(wg(1000.0, 2.0), 0.0)
    # the wall clock jumps an hour ahead: the reader's age of the same handshake is now 3602 s
    assert t.observe(wg(1000.0, 3602.0), 1.0) is None
    assert t.status == "up"
    assert t.handshake_age(1.0) == 3.0  # measured on the agent's own clock
    # and back: a negative age is no age at all
    t.observe(wg(5000.0, -3000.0), 2.0)
    assert t.handshake_age(2.0) == 0.0


def test_the_words_say_what_was_read() -> None:
    t = TunnelState("fra", LINK, 0.0)
    t.observe(TunnelFacts("fra", True, False, detail="netns gone"), 0.0)
    assert t.why == "interface vti-fra not found: netns gone"
    t.observe(link(True), 1.0)
    change = t.observe(TunnelFacts("fra", True, False, detail="deleted"), 2.0)
    assert change is not None
    assert change.why == "interface vti-fra is gone: deleted"
    ipsec = TunnelState("fra", Tunnel("ipsec", "", ike="fra"), 0.0)
    ipsec.observe(TunnelFacts("fra", True, False, detail="no IKE_SA"), 0.0)
    assert ipsec.why == "ipsec fra: no IKE_SA"  # no CHILD_SA named: any of its own


def test_an_unreadable_tunnel_is_unknown_and_the_peer_removed_is_down() -> None:
    t = TunnelState("fra", WG, 0.0)
    t.observe(wg(1000.0, 1.0), 0.0)
    change = t.observe(TunnelFacts("fra", False, detail="permission denied"), 1.0)
    assert change is not None
    assert (change.new, change.why) == ("unknown", "wireguard wg-fra cannot be read: permission denied")
    t.observe(wg(1000.0, 2.0), 2.0)
    change = t.observe(wg(None, None, present=False), 3.0)
    assert change is not None
    assert change.new == "down"


H = Health(rise=2, fall=3, hold_down=5.0, dampening=Dampening(penalty=1000, half_life=60, suppress=1500, reuse=750))


def test_health_goes_down_at_once_and_comes_back_only_by_its_probes() -> None:
    h = EgressHealth("fra", H, 0.0)
    t = h.tunnel_down(1.0, "wireguard wg-fra: peer removed")
    assert t is not None
    assert (t.old, t.new, t.reason) == ("up", "down", "tunnel down: wireguard wg-fra: peer removed")
    assert h.flaps == 1
    for n in range(5):  # probes answering while the tunnel is down (another path): they count for nothing
        assert h.observe(True, 2.0 + n) is None
    assert h.bad == 5
    h.tunnel_up()
    assert h.state == "down"  # the tunnel alone brings nothing back
    assert h.observe(True, 10.0) is None
    t = h.observe(True, 11.0)
    assert t is not None
    assert t.new == "recovering"
    t = h.tick(16.0)
    assert t is not None
    assert t.new == "up"


def test_a_flapping_tunnel_is_dampened() -> None:
    h = EgressHealth("fra", H, 0.0)
    for n in range(2):
        h.tunnel_down(10.0 * n, "link down")
        h.tunnel_up()
        h.observe(True, 10.0 * n + 1)
        h.observe(True, 10.0 * n + 2)
        h.tick(10.0 * n + 8)
    assert h.suppressed  # two flaps: 1000 + ~890 > 1500
    assert h.state == "recovering"  # held: the hold-down cannot end while suppressed
    assert h.tick(30.0) is None


CONFIG = """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu, jurisdiction: EU, next_hop: 10.255.0.1,
     probe: {type: external, targets: [t], interval: 1}, tunnel: {type: interface, device: vti-fra}}
  - {id: ams, region: eu, jurisdiction: EU, next_hop: 10.255.0.2, probe: {type: external, targets: [t], interval: 1}}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
policy: {import: {default: accept}, export: {default: accept}}
"""


def nh(effects: list[Effect]) -> list[tuple[str, str]]:
    return [
        (type(e).__name__, p)
        for e in effects
        if isinstance(e, (Announce, Withdraw))
        for p in e.prefixes
        if p.startswith("10.255.")
    ]


def test_the_engine_withdraws_the_next_hop_at_the_tunnel_event_with_no_probe_round() -> None:
    eng = Engine(parse(CONFIG, "t.yaml"))
    eng.start(0.0)
    eng.tunnel(link(True), 0.5)
    effects = eng.tunnel(link(False), 1.0)
    assert nh(effects) == [("Withdraw", "10.255.0.1/32")]
    assert "tunnel down: interface vti-fra link down" in str(effects)
    assert nh(eng.tunnel(link(True), 2.0)) == []  # the tunnel up brings nothing back by itself
    ok = (Sample("t", True, 1.0),)
    effects = [e for n in range(3) for e in eng.probe_round("fra", ok, 3.0 + n)]
    effects += eng.tick(3.0 + 2 + 10.0)  # rise 3, then the hold-down (10 s)
    assert nh(effects) == [("Announce", "10.255.0.1/32")]
    status = eng.steering.tunnels["fra"].as_dict(20.0)
    assert (status["status"], status["downs"]) == ("up", 1)


def test_tunnel_config_errors_name_their_key_all_at_once() -> None:
    bad = CONFIG.replace(
        "tunnel: {type: interface, device: vti-fra}",
        'tunnel: {type: interface, device: "a/very-long-name", peer: "nope", interval: 0}',
    )
    try:
        parse(bad, "t.yaml")
    except ConfigError as exc:
        found = {(i.path, i.message.split(":")[0].split(" (")[0]) for i in exc.issues}
    else:
        raise AssertionError("accepted")
    assert {p for p, _ in found} == {
        "egresses[0].tunnel.device",
        "egresses[0].tunnel.peer",
        "egresses[0].tunnel.interval",
    }
    key = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
    good = CONFIG.replace("type: interface, device: vti-fra", f'type: wireguard, device: wg-fra, peer: "{key}"')
    t = parse(good, "t.yaml").egress("fra").tunnel
    assert t == Tunnel("wireguard", "wg-fra", key)


IPSEC = Tunnel("ipsec", "", ike="fra", child="fra-c")


def test_ipsec_is_down_without_its_sa_even_at_the_start_and_rekeys_move_nothing() -> None:
    t = TunnelState("fra", IPSEC, 0.0)
    change = t.observe(TunnelFacts("fra", True, False, detail="no IKE_SA"), 0.0)
    assert change is not None
    assert (change.new, change.why) == ("down", "ipsec fra/fra-c: no IKE_SA")  # charon answers: the SA is not there
    up = TunnelFacts("fra", True, True, handshake_stamp=1.0, handshake_age=3.0, detail="ok", expires_in=3897.0)
    assert t.observe(up, 1.0) is not None
    rekeyed = TunnelFacts("fra", True, True, handshake_stamp=2.0, handshake_age=0.0, detail="ok", expires_in=3900.0)
    assert t.observe(rekeyed, 1800.0) is None
    assert (t.status, t.handshakes, t.handshake_age(1801.0), t.as_dict(1801.0)["sa_expires_in"]) == (
        "up",
        2,
        1.0,
        3900.0,
    )


def test_explain_shows_the_tunnels_part_in_its_egress_state() -> None:
    from bgpsteer.core.attrs import Attrs
    from bgpsteer.core.events import RoutesAnnounced
    from bgpsteer.core.view import CoreView

    eng = Engine(parse(CONFIG, "t.yaml"))
    eng.start(0.0)
    eng.handle(RoutesAnnounced("10.1.0.2", 4, Attrs(next_hop="10.1.0.2", as_path=(64512,)), ["44.0.0.0/24"]), 0.0)
    eng.flush(0.0)
    eng.tunnel(link(True), 0.5)
    x = CoreView(eng).explain("44.0.0.0/24")
    assert x is not None
    (fra,) = [e for e in x["egresses"] if e["egress"] == "fra"]
    assert "health: in service; tunnel up: interface vti-fra link up" in fra["checks"]
    eng.tunnel(link(False), 1.0)
    x = CoreView(eng).explain("44.0.0.0/24")
    assert x is not None
    (fra,) = [e for e in x["egresses"] if e["egress"] == "fra"]
    assert fra["checks"][-1].endswith(
        "; tunnel down: interface vti-fra link down; the tunnel holds it down until its probes rise again"
    )
