"""Codec contract: real ExaBGP 5.0.15 lines in, exact command text out."""

from pathlib import Path

import exabgp.version
import pytest

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.events import (
    Announce,
    EndOfRib,
    HeldRoute,
    NotificationReceived,
    PeerState,
    RefreshMarker,
    RoutesAnnounced,
    RoutesWithdrawn,
    SessionSummary,
    Withdraw,
)
from bgpsteer.exabgp import codec

CAPTURE = Path(__file__).parent / "captures" / "exabgp-5.0.15.jsonl"


def test_pinned_exabgp_matches_capture() -> None:
    # a new ExaBGP needs a new capture (tests/contract/capture.py) and a look at what changed
    assert exabgp.version.version == "5.0.15"


def decoded() -> list[codec.Decoded]:
    d = codec.Decoder()
    return [item for line in CAPTURE.read_text().splitlines() for item in d.decode(line)]


def test_capture_decodes_completely() -> None:
    items = decoded()
    assert not [i for i in items if isinstance(i, codec.Malformed)]
    kinds = {type(i) for i in items}
    assert {PeerState, RoutesAnnounced, RoutesWithdrawn, EndOfRib, NotificationReceived} <= kinds


def test_ipv4_update() -> None:
    # the table, then the same table again as the answer to bgpsteer's route refresh
    first, again = [i for i in decoded() if isinstance(i, RoutesAnnounced) and i.afi == 4]
    assert again == first
    v4 = first
    assert v4.peer == "10.250.1.2"
    assert sorted(v4.prefixes) == ["10.10.0.0/16", "10.10.1.0/24", "10.10.2.0/24"]
    assert v4.attrs == Attrs(
        next_hop="10.250.1.2",
        origin="igp",
        as_path=(64512,),
        med=50,
        communities=((64512, 100), (65535, 0)),
        large_communities=((64512, 1, 2),),
    )


def test_ipv6_update_withdraw_eor_state() -> None:
    items = decoded()
    (v6,) = [i for i in items if isinstance(i, RoutesAnnounced) and i.afi == 6]
    assert v6.attrs.next_hop == "fd00:250:1::2"
    assert sorted(v6.prefixes) == ["fd10:10::/48", "fd10:11::/48"]
    assert RoutesWithdrawn("fd00:250:1::2", 6, ["fd10:11::/48"]) in items
    assert RoutesWithdrawn("10.250.1.2", 4, ["10.10.2.0/24"]) in items
    assert EndOfRib("10.250.1.2", 4) in items
    assert EndOfRib("fd00:250:1::2", 6) in items
    assert PeerState("10.250.1.2", "down", "notification received (6,2)") in items
    assert NotificationReceived("10.250.1.2", 6, 2, "") in items


def test_attribute_sets_are_shared() -> None:
    d = codec.Decoder()
    line = next(x for x in CAPTURE.read_text().splitlines() if '"ipv4 unicast": {' in x)
    a = d.decode(line)[0]
    b = d.decode(line)[0]
    assert isinstance(a, RoutesAnnounced)
    assert isinstance(b, RoutesAnnounced)
    assert a.attrs is b.attrs


def test_bird_ipv6_link_local_duplicate_is_dropped() -> None:
    line = (
        '{"exabgp": "5.0.0", "type": "update", "neighbor": {"address": {"local": "fd00::1", "peer": "fd00::2"}, '
        '"message": {"update": {"attribute": {"origin": "igp"}, "announce": {"ipv6 unicast": {'
        '"fe80::2": [{"nlri": "fd10::/48"}], "fd00::2": [{"nlri": "fd10::/48"}, {"nlri": "fd11::/48"}]}}}}}}'
    )
    (ev,) = codec.Decoder().decode(line)
    assert isinstance(ev, RoutesAnnounced)
    assert ev.attrs.next_hop == "fd00::2"
    assert ev.prefixes == ["fd10::/48", "fd11::/48"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ('{"type": "update", "neighbor": {}}', "unexpected message structure"),
        (
            '{"type": "update", "neighbor": {"address": {"peer": "1.2.3.4"}, "message": {"update": {"attribute": '
            '{"origin": "x"}, '
            '"announce": {"ipv4 unicast": {"1.2.3.4": [{"nlri": "10.0.0.0/8"}]}}}}}}',
            "unknown origin",
        ),
    ],
)
def test_malformed_lines_never_raise(line: str, reason: str) -> None:
    (item,) = codec.Decoder().decode(line)
    assert isinstance(item, codec.Malformed)
    assert reason in item.reason


def test_plain_text_is_left_to_the_agent_which_knows_what_was_asked() -> None:
    # only the agent knows whether a text line answers a show command it sent (else it counts it as malformed)
    assert codec.Decoder().decode("hello") == [codec.Text("hello")]
    assert codec.Decoder().decode("[1, 2]") == [codec.Text("[1, 2]")]


def test_adj_rib_out_and_summary_answers_of_a_real_exabgp_decode_to_their_own_events() -> None:
    """The capture pins ExaBGP's answers to what bgpsteer sends at start (capture.py's command list)."""
    items = decoded()
    assert [i for i in items if isinstance(i, SessionSummary)] == [
        SessionSummary("10.250.1.2", "up", "established"),
        SessionSummary("fd00:250:1::2", "up", "established"),
    ]
    held = [i for i in items if isinstance(i, HeldRoute)]
    assert held == [
        HeldRoute("10.250.1.2", "44.0.1.0/24", 1),
        HeldRoute("10.250.1.2", "44.0.2.0/24", 1),
        HeldRoute("10.250.1.2", "44.0.1.0/24", 258),
    ]  # path id printed as a dotted quad, most significant byte first
    # one ack per command, in order: two announces, the two shows, a refused LOCAL_PREF of 2^32, End-of-RIB, refresh
    assert [i.ok for i in items if isinstance(i, codec.Ack)] == [True, True, True, True, False, True, True]
    # the header comes first in the real answer: a restarted helper syncs its acks on it
    kinds = [type(i) for i in items if isinstance(i, (codec.SummaryHeader, SessionSummary))]
    assert kinds == [codec.SummaryHeader, SessionSummary, SessionSummary]
    assert codec.Decoder().decode("10.250.2.2      16550          down active                0          0") == [
        SessionSummary("10.250.2.2", "down", "active")
    ]


def test_acks_and_shutdown() -> None:
    d = codec.Decoder()
    assert d.decode("done") == [codec.Ack(True, "done")]
    assert d.decode("error") == [codec.Ack(False, "error")]
    line = '{ "exabgp": "5.0.0", "time": 1.0, "type": "notification", "notification": "shutdown" }'
    assert isinstance(d.decode(line)[0], codec.Ignored)


def test_announce_command_text_is_exact() -> None:
    attrs = Attrs(
        next_hop="10.255.0.1",
        origin="igp",
        as_path=(64512,),
        med=20,
        local_pref=200,
        communities=((64512, 100), (65000, 100)),
        large_communities=((65000, 1, 1),),
    )
    lines = list(codec.encode(Announce(4, 1, attrs, ["10.10.0.0/16", "10.10.1.0/24"]), "10.250.0.2"))
    assert lines == [
        "neighbor 10.250.0.2 announce attributes path-information 1 next-hop 10.255.0.1 origin igp as-path [ 64512 ] "
        "med 20 local-preference 200 community [ 64512:100 65000:100 ] large-community [ 65000:1:1 ] "
        "nlri 10.10.0.0/16 10.10.1.0/24"
    ]


def test_withdraw_command_text_and_batching() -> None:
    lines = list(codec.encode(Withdraw(6, 2, ["fd10::/48", "fd11::/48", "fd12::/48"]), "fd00::2", size=2))
    assert lines == [
        "neighbor fd00::2 withdraw attributes path-information 2 next-hop :: nlri fd10::/48 fd11::/48",
        "neighbor fd00::2 withdraw attributes path-information 2 next-hop :: nlri fd12::/48",
    ]


def test_the_answer_to_a_route_refresh_is_bracketed_by_begin_and_end_markers() -> None:
    """Enhanced route refresh (RFC 7313), negotiated by ExaBGP and BIRD: with `receive { refresh; }` ExaBGP passes
    the BoRR / EoRR markers on, and the re-sent table comes between them (core/reconcile.py waits for the end)."""
    items = decoded()
    markers = [i for i in items if isinstance(i, RefreshMarker)]
    assert markers == [RefreshMarker("10.250.1.2", 4, end=False), RefreshMarker("10.250.1.2", 4, end=True)]
    begin, end = (items.index(m) for m in markers)
    between = [i for i in items[begin:end] if isinstance(i, RoutesAnnounced)]
    assert sorted(p for r in between for p in r.prefixes) == ["10.10.0.0/16", "10.10.1.0/24", "10.10.2.0/24"]


def test_a_route_refresh_request_from_a_peer_is_ignored() -> None:
    line = (
        '{"exabgp": "5.0.0", "type": "refresh", "neighbor": {"address": {"local": "10.250.1.1", "peer": "10.250.1.2"}, '
        '"direction": "receive", "route-refresh": {"afi": "ipv4", "safi": "unicast", "subtype": "request"}}}'
    )
    (item,) = codec.Decoder().decode(line)
    assert isinstance(item, codec.Ignored)
