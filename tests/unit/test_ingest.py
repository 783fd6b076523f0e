"""What the engine learns from cloud peers (core/ingest.py), with exact words and counts: session changes and what
they flush or relearn, withdrawals, unknown peers, notifications, refresh markers, max-prefix, and the reasons the
decision passes carry."""

from __future__ import annotations

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import (
    Changed,
    Effect,
    EndOfRib,
    Log,
    NotificationReceived,
    PeerState,
    RefreshMarker,
    RoutesAnnounced,
    RoutesWithdrawn,
    Teardown,
)
from lab.textedit import yaml_edited
from tests.unit.helpers import ACCEPT_ALL, BASE, config

AWS, GCP = "10.1.0.2", "10.2.0.2"
A = Attrs(next_hop=AWS, as_path=(64512,))
G = Attrs(next_hop=GCP, as_path=(16550,))


def logs(effects: list[Effect]) -> list[tuple[str, str, dict[str, object]]]:
    return [(e.level, e.message, e.fields) for e in effects if isinstance(e, Log)]


def reason(effects: list[Effect]) -> str:
    (changed,) = [e for e in effects if isinstance(e, Changed)]
    return changed.reason


def test_a_session_that_comes_up_relearns_and_one_that_goes_down_is_flushed_with_its_reason() -> None:
    eng = Engine(config(ACCEPT_ALL))
    up = eng.handle(PeerState(AWS, "up", "open"), 5.0)
    assert logs(up) == [("info", "peer aws idle -> up", {"peer": "aws", "reason": "open"})]
    info = eng.peers[AWS]
    assert (info.state, info.last_change, info.last_reason, info.state_known, info.relearn_from) == (
        "up",
        5.0,
        "open",
        True,
        5.0,
    )
    eng.handle(PeerState(AWS, "up", "", changed=False), 6.0)  # recovered, not a change: no relearning
    assert info.relearn_from == 5.0
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16", "10.11.0.0/16"]), 7.0)
    eng.handle(RoutesAnnounced(GCP, 4, G, ["10.10.0.0/16"]), 7.0)
    assert reason(eng.flush(7.0)) == "update from aws; update from gcp"
    assert (info.routes, info.accepted, info.last_heard, eng.stats.routes_received) == (2, 2, 7.0, 3)
    eng.handle(EndOfRib(AWS, 4), 7.5)
    assert info.eor == {4}
    down = eng.handle(PeerState(AWS, "down", "hold timer expired"), 8.0)
    assert logs(down) == [
        ("info", "peer aws up -> down", {"peer": "aws", "reason": "hold timer expired"}),
        ("info", "flushed 2 routes of peer aws", {"peer": "aws", "reason": "hold timer expired"}),
    ]
    assert (info.routes, info.accepted, info.eor, info.max_prefix_hit) == (0, 0, set(), False)
    assert reason(eng.flush(8.0)) == "peer aws down: hold timer expired"
    assert [p.peer.name for p in eng.rib["10.10.0.0/16"].paths] == ["gcp"]
    assert "10.11.0.0/16" not in eng.rib
    again = eng.handle(PeerState(AWS, "down", ""), 9.0)  # nothing left to flush: no second line
    assert logs(again) == [("info", "peer aws down -> down", {"peer": "aws", "reason": ""})]
    # no pass ran since: both reasons go with the next one, the empty reason said as "session down"
    assert reason(eng.handle(PeerState(GCP, "down", ""), 9.0) + eng.flush(9.0)) == (
        "peer aws down: session down; peer gcp down: session down"
    )


def test_withdrawals_count_and_only_the_peers_own_path_goes() -> None:
    eng = Engine(config(ACCEPT_ALL))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16", "10.11.0.0/16"]), 0.0)
    eng.handle(RoutesAnnounced(GCP, 4, G, ["10.10.0.0/16", "10.11.0.0/16"]), 0.0)
    eng.flush(0.0)
    assert eng.handle(RoutesWithdrawn(AWS, 4, ["10.10.0.0/16", "10.99.0.0/16"]), 3.0) == []
    assert (eng.stats.routes_withdrawn, eng.peers[AWS].routes, eng.peers[AWS].accepted) == (2, 1, 1)
    assert eng.peers[AWS].last_heard == 3.0
    assert [p.peer.name for p in eng.rib["10.10.0.0/16"].paths] == ["gcp"]
    assert [p.peer.name for p in eng.rib["10.11.0.0/16"].paths] == ["aws", "gcp"]  # the next prefix is untouched
    assert reason(eng.flush(3.0)) == "withdraw from aws"
    eng.handle(RoutesWithdrawn(AWS, 4, ["10.11.0.0/16"]), 4.0)
    assert (eng.peers[AWS].routes, eng.peers[GCP].routes) == (0, 2)


def test_unknown_peers_notifications_and_refresh_markers() -> None:
    eng = Engine(config(ACCEPT_ALL))
    assert logs(eng.handle(RoutesAnnounced("10.9.9.9", 4, A, ["10.10.0.0/16"]), 0.0)) == [
        ("warning", "routes from a peer that is not a configured cloud peer; ignored", {"peer": "10.9.9.9"})
    ]
    assert logs(eng.handle(RoutesWithdrawn("10.9.9.9", 4, ["10.10.0.0/16"]), 0.0)) == [
        ("warning", "withdrawals from a peer that is not a configured cloud peer; ignored", {"peer": "10.9.9.9"})
    ]
    assert eng.stats.unknown_peer_events == 2
    assert eng.handle(PeerState("10.0.0.2", "up"), 0.0) == []  # a core router's state is not the engine's
    assert logs(eng.handle(NotificationReceived(AWS, 6, 2, "shut"), 0.0)) == [
        ("warning", "notification received", {"peer": AWS, "code": 6, "subcode": 2, "text": "shut"})
    ]
    info = eng.peers[AWS]
    eng.handle(RefreshMarker(AWS, 4, end=False), 1.0)
    assert info.refreshing == set()  # a refresh bgpsteer did not ask for counts for nothing
    eng.relearning(AWS, 2.0)
    eng.handle(RefreshMarker(AWS, 4, end=False), 2.5)
    assert (info.refreshing, info.refreshed, info.relearn_from) == ({4}, set(), 2.0)
    eng.handle(RefreshMarker(AWS, 4, end=True), 3.0)
    assert (info.refreshing, info.refreshed) == (set(), {4})
    eng.relearning(AWS, 4.0)  # a new refresh starts over
    assert (info.refreshed, info.relearn_from) == (set(), 4.0)


def test_max_prefix_warn_stop_and_teardown() -> None:
    def limited(action: str) -> Engine:
        text = yaml_edited(BASE, lambda doc: doc["cloud_peers"][0].update(max_prefix={"limit": 2, "action": action}))
        return Engine(parse(text + ACCEPT_ALL, "t.yaml"))

    prefixes = ["10.10.0.0/16", "10.11.0.0/16", "10.12.0.0/16", "10.13.0.0/16"]
    warn = limited("warn")
    first = warn.handle(RoutesAnnounced(AWS, 4, A, prefixes), 0.0)
    assert logs(first) == [("warning", "max-prefix 2 reached; action warn", {"peer": "aws"})]
    assert (warn.peers[AWS].routes, warn.peers[AWS].max_prefix_hit) == (4, True)
    assert logs(warn.handle(RoutesAnnounced(AWS, 4, A, ["10.14.0.0/16"]), 0.0)) == []  # said once

    stop = limited("stop")
    stop.handle(RoutesAnnounced(AWS, 4, A, prefixes), 0.0)
    assert (stop.peers[AWS].routes, stop.peers[AWS].refused) == (2, 2)
    stop.handle(RoutesAnnounced(AWS, 4, A, prefixes[:1]), 0.0)  # a path it holds already is replaced, not refused
    assert (stop.peers[AWS].routes, stop.peers[AWS].refused) == (2, 2)

    down = limited("teardown")
    effects = down.handle(RoutesAnnounced(AWS, 4, A, prefixes), 0.0)
    assert [e for e in effects if isinstance(e, Teardown)] == [Teardown(AWS, "max-prefix 2 exceeded")]
    assert logs(effects) == [
        ("warning", "max-prefix 2 reached; action teardown", {"peer": "aws"}),
        ("info", "flushed 2 routes of peer aws", {"peer": "aws", "reason": "max-prefix 2 exceeded"}),
    ]
    assert (down.peers[AWS].routes, down.peers[AWS].max_prefix_hit) == (0, False)
    assert not [e for e in down.flush(0.0) if isinstance(e, Changed)]  # stored and flushed before any decision


def test_invalid_prefixes_are_counted_and_the_first_reason_logged_once_per_update() -> None:
    eng = Engine(config(ACCEPT_ALL))
    effects = eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.1/16", "10.11.0.0/16", "fd00::/48", "bad"]), 0.0)
    assert eng.stats.invalid_prefixes == 3
    assert logs(effects) == [
        (
            "warning",
            "routes with an invalid prefix skipped: invalid prefix '10.10.0.1/16': host bits set",
            {"peer": "aws"},
        )
    ]
    eng.handle(RoutesAnnounced(GCP, 6, G, ["fd00::/48"]), 0.0)
    effects = eng.handle(RoutesAnnounced(AWS, 4, A, ["fd00::/48"]), 0.0)  # known prefix, wrong family
    assert logs(effects) == [
        ("warning", "routes with an invalid prefix skipped: ipv6 prefix 'fd00::/48' in an ipv4 UPDATE", {"peer": "aws"})
    ]
    assert list(eng.rib) == ["10.11.0.0/16", "fd00::/48"]
