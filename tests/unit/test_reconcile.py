"""Reconciling with ExaBGP's held table: parsing its lines, which held paths are stale, judging egress by egress."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bgpsteer.core.events import Withdraw
from bgpsteer.core.reconcile import PeerProgress, Reconciler, parse_held, stale

EXT = "neighbor 10.0.0.2 local-ip 10.0.0.1 local-as 65000 peer-as 65000 router-id 10.0.0.1 family-allowed in-open"


@pytest.mark.parametrize(
    ("line", "held"),
    [
        (
            f"{EXT} ipv4 unicast 10.1.0.0/24 path-information 0.0.0.1 next-hop 10.255.0.1",
            ("10.0.0.2", "10.1.0.0/24", 1),
        ),
        (f"{EXT} ipv4 unicast 10.1.0.0/24 path-information 1.2.3.4 next-hop x", ("10.0.0.2", "10.1.0.0/24", 16909060)),
        (f"{EXT} ipv4 unicast 10.1.0.0/24 path-information 0.0.1.0", ("10.0.0.2", "10.1.0.0/24", 256)),
        (f"{EXT} ipv4 unicast 10.1.0.0/24 path-information 7 next-hop x", ("10.0.0.2", "10.1.0.0/24", 7)),
        (f"{EXT} ipv4 unicast 10.1.0.0/24 next-hop 10.255.0.1", ("10.0.0.2", "10.1.0.0/24", 0)),
        ("10.0.0.3 ipv6 unicast fd10::/48 next-hop fd00::1", ("10.0.0.3", "fd10::/48", 0)),
        ("10.0.0.3 ipv4 unicast 10.2.0.0/16", ("10.0.0.3", "10.2.0.0/16", 0)),
    ],
)
def test_parse_held(line: str, held: tuple[str, str, int]) -> None:
    assert parse_held(line) == held


@pytest.mark.parametrize(
    "line",
    [
        "",
        "neighbor 10.0.0.2 up",
        "unicast 10.1.0.0/24",  # nothing before 'unicast'
        "ipv4 unicast 10.1.0.0/24",  # no neighbor address
        "10.0.0.2 ipv4 unicast",  # no prefix after 'unicast'
        "10.0.0.2 l2vpn unicast 10.1.0.0/24",  # not an IP family
        "10.0.0.2 ipv4 unicast 10.1.0.0",  # not a prefix
        "10.0.0.2 ipv4 unicast 10.1.0.0/24 path-information x.y.z.w",
        "10.0.0.2 ipv4 unicast 10.1.0.0/24 path-information 1.2.z.4",
    ],
)
def test_parse_held_rejects(line: str) -> None:
    assert parse_held(line) is None


def test_stale_groups_by_neighbor_family_and_path_id() -> None:
    held = [
        ("10.0.0.2", "10.1.0.0/24", 1),
        ("10.0.0.2", "10.2.0.0/24", 1),
        ("10.0.0.2", "10.3.0.0/24", 2),
        ("10.0.0.2", "fd10::/48", 1),
        ("10.0.0.2", "10.9.0.0/24", 1),  # wanted: kept
        ("10.0.0.9", "10.1.0.0/24", 1),  # not a core session of ours: left alone
    ]
    out = stale(held, {("10.9.0.0/24", 1)}, {"10.0.0.2"})
    assert out == {
        "10.0.0.2": [
            Withdraw(4, 1, ["10.1.0.0/24", "10.2.0.0/24"]),
            Withdraw(4, 2, ["10.3.0.0/24"]),
            Withdraw(6, 1, ["fd10::/48"]),
        ]
    }
    assert stale(held, {(p, i) for _, p, i in held}, {"10.0.0.2"}) == {}
    # wanted is per (prefix, path id): the same prefix under another path id is stale
    assert stale([("10.0.0.2", "10.1.0.0/24", 3)], {("10.1.0.0/24", 1)}, {"10.0.0.2"}) == {
        "10.0.0.2": [Withdraw(4, 3, ["10.1.0.0/24"])]
    }


def peer(egress: str, name: str, **kw: object) -> PeerProgress:
    base: dict[str, object] = {
        "egress": egress,
        "families": frozenset({4}),
        "state": "up",
        "state_known": True,
        "eor": frozenset(),
        "last_heard": None,
        "relearn_from": 0.0,
        "name": name,
    }
    base.update(kw)
    return PeerProgress(**base)  # type: ignore[arg-type]


EGRESS_OF = {1: "fra", 2: "ams"}
CORES = {"10.0.0.2"}


def test_reconciler_waits_for_the_dump_then_judges_egress_by_egress() -> None:
    r = Reconciler(0.0, settle=5.0, timeout=60.0)
    r.add(("10.0.0.2", "10.1.0.0/24", 1))
    r.add(("10.0.0.2", "10.2.0.0/24", 2))
    r.add(("10.0.0.2", "10.3.0.0/24", 9))  # no egress has path id 9 any more: judged at once
    r.add(("10.0.0.2", "10.4.0.0/24", 2))  # wanted
    aws = peer("fra", "aws", eor=frozenset({4}))
    gcp = peer("ams", "gcp", last_heard=1.0)
    wanted = {("10.4.0.0/24", 2)}
    assert r.step(2.0, [aws, gcp], EGRESS_OF, wanted, CORES) is None  # the dump is not complete
    assert r.done is False
    r.dump_done = True
    assert r.readiness([aws, gcp], 2.0) == {"aws": "End-of-RIB", "gcp": None}
    assert r.waiting_egresses([aws, gcp], 2.0) == frozenset({"ams"})
    out = r.step(2.0, [aws, gcp], EGRESS_OF, wanted, CORES)
    assert out == {"10.0.0.2": [Withdraw(4, 1, ["10.1.0.0/24"]), Withdraw(4, 9, ["10.3.0.0/24"])]}
    assert (r.checked, r.withdrawn, len(r.held), r.done) == (2, 2, 2, False)
    assert r.readiness([aws, gcp], 6.0) == {"aws": "End-of-RIB", "gcp": "quiet for 5s after its routes"}
    out = r.step(6.0, [aws, gcp], EGRESS_OF, wanted, CORES)
    assert out == {"10.0.0.2": [Withdraw(4, 2, ["10.2.0.0/24"])]}
    assert (r.checked, r.withdrawn, r.held, r.done) == (4, 3, [], True)
    assert r.step(7.0, [aws, gcp], EGRESS_OF, wanted, CORES) == {}


def test_reconciler_passes_settle_and_timeout_on() -> None:
    r = Reconciler(100.0, settle=1.0, timeout=10.0)
    quiet = peer("fra", "aws", last_heard=100.5, relearn_from=100.0)
    assert r.readiness([quiet], 101.0) == {"aws": None}
    assert r.readiness([quiet], 101.5) == {"aws": "quiet for 1s after its routes"}
    silent = peer("ams", "gcp", relearn_from=100.0)
    assert r.waiting_egresses([silent], 109.9) == frozenset({"ams"})
    assert r.readiness([silent], 110.0) == {"gcp": "10s since start"}
    assert r.waiting_egresses([silent], 110.0) == frozenset()


def test_an_egress_waits_while_any_of_its_peers_is_not_ready() -> None:
    r = Reconciler(0.0)
    r.dump_done = True
    r.add(("10.0.0.2", "10.1.0.0/24", 1))
    ready = peer("fra", "aws", eor=frozenset({4}))
    busy = peer("fra", "azure", refreshing=frozenset({4}), last_heard=0.5)
    assert r.step(30.0, [ready, busy], EGRESS_OF, set(), CORES) == {}
    assert len(r.held) == 1
    done = replace(busy, refreshed=frozenset({4}))
    assert r.step(30.0, [ready, done], EGRESS_OF, set(), CORES) == {"10.0.0.2": [Withdraw(4, 1, ["10.1.0.0/24"])]}


def test_a_session_not_up_at_start_is_waited_for_down_grace_seconds_from_start() -> None:
    from bgpsteer.core.reconcile import DOWN_GRACE, peer_ready

    connecting = peer("fra", "aws", state="connected", relearn_from=None)
    assert peer_ready(connecting, 1000.0 + DOWN_GRACE - 0.1, 1000.0) is None
    assert peer_ready(connecting, 1000.0 + DOWN_GRACE, 1000.0) == "session connected"
    went_down = peer("fra", "aws", state="down", relearn_from=1000.0)
    assert peer_ready(went_down, 1000.1, 1000.0) == "session down"
    unknown = peer("fra", "aws", state="idle", state_known=False, relearn_from=None)
    assert peer_ready(unknown, 1000.0 + DOWN_GRACE, 1000.0) is None
