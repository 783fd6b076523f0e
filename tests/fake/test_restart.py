"""A helper restart changes nothing on the core and forgets nothing (FakeExaBGP keeps its adj-RIB-out)."""

from __future__ import annotations

from bgpsteer.config.loader import parse
from bgpsteer.core.reconcile import READY_TIMEOUT, SETTLE
from bgpsteer.runtime.agent import SYNC_TIMEOUT
from tests.fake.world import AWS, CONFIG, CORE, GCP, SIX
from tests.fake_exabgp import Clock, FakeExaBGP, eor, refresh_marker, state, update, withdraw


def running(clock: Clock) -> FakeExaBGP:
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock)
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX, asn=16550))
    fake.agent.tick()
    assert fake.paths(CORE) >= {(p, pid) for p in SIX for pid in (1, 2)}
    return fake


def withdrawn(fake: FakeExaBGP, since: int) -> list[str]:
    return [x for x in fake.lines[since:] if " withdraw " in x]


def test_restart_withdraws_only_what_went_away_and_only_once_its_egress_is_relearned() -> None:
    clock = Clock()
    fake = running(clock)
    before = dict(fake.rib)
    agent = fake.restart_helper()
    mark = len(fake.lines)
    agent.start()
    # AWS answers the route refresh at once; GCP is slow, and meanwhile lost SIX[0]
    fake.feed(update(AWS, SIX))
    for _ in range(3):
        clock.now += 2.0
        agent.tick()
    fake.feed(update(GCP, SIX[1:3], asn=16550))
    clock.now += 2.0
    agent.tick()
    assert not withdrawn(fake, mark)  # gcp still sending: nothing of its egress is judged
    assert fake.rib == before
    fake.feed(update(GCP, SIX[3:], asn=16550))
    clock.now += SETTLE + 0.1
    agent.tick()
    assert withdrawn(fake, mark) == [
        f"neighbor {CORE} withdraw attributes path-information 2 next-hop 0.0.0.0 nlri {SIX[0]}"
    ]
    assert (SIX[0], 1) in fake.paths(CORE)
    assert (SIX[0], 2) not in fake.paths(CORE)
    assert agent.reconciler is None  # done


def test_end_of_rib_makes_a_peer_ready_without_waiting() -> None:
    clock = Clock()
    fake = running(clock)
    agent = fake.restart_helper()
    mark = len(fake.lines)
    agent.start()
    fake.feed(update(AWS, SIX), eor(AWS), update(GCP, SIX[1:], asn=16550), eor(GCP))
    agent.tick()
    assert withdrawn(fake, mark) == [
        f"neighbor {CORE} withdraw attributes path-information 2 next-hop 0.0.0.0 nlri {SIX[0]}"
    ]


def test_a_late_dump_is_still_reconciled_and_nothing_is_judged_before_it_is_complete() -> None:
    clock = Clock()
    fake = running(clock)
    agent = fake.restart_helper()
    fake.defer_dump = True  # ExaBGP is slow to answer (a large table): the peers are relearned long before
    mark = len(fake.lines)
    agent.start()
    fake.feed(update(AWS, SIX[1:]), update(GCP, SIX, asn=16550))
    for _ in range(4):
        clock.now += SETTLE
        agent.tick()
    assert not withdrawn(fake, mark)
    assert agent.reconciler is not None
    fake.deliver_dump()
    agent.tick()
    assert withdrawn(fake, mark) == [
        f"neighbor {CORE} withdraw attributes path-information 1 next-hop 0.0.0.0 nlri {SIX[0]}"
    ]
    assert agent.malformed == 0
    assert agent.reconciler is None


def test_dump_lines_nobody_asked_for_are_malformed_not_routes() -> None:
    clock = Clock()
    fake = running(clock)
    fake.agent.on_line(
        "neighbor 10.250.0.2 local-ip 10.250.0.1 ipv4 unicast 44.9.9.0/24 path-information 0.0.0.1 next-hop 10.255.0.1"
    )
    assert fake.agent.malformed == 1


def eor_lines(fake: FakeExaBGP) -> list[int]:
    return [i for i, x in enumerate(fake.lines) if x == f"neighbor {CORE} announce eor ipv4 unicast"]


def test_end_of_rib_goes_to_the_core_only_once_the_whole_table_is_announced() -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock)  # graceful_restart defaults to 120: manual End-of-RIB
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), eor(AWS), update(GCP, SIX[:3], asn=16550))
    clock.now += 1
    fake.agent.tick()
    assert not eor_lines(fake)  # gcp is still sending its table
    fake.feed(update(GCP, SIX[3:], asn=16550), eor(GCP))
    clock.now += 0.1
    fake.agent.tick()
    (at,) = eor_lines(fake)
    last_announce = max(i for i, x in enumerate(fake.lines) if " announce attributes " in x)
    assert at > last_announce
    assert fake.paths(CORE) >= {(p, pid) for p in SIX for pid in (1, 2)}
    # the core session flaps: ExaBGP re-sends what it holds, and End-of-RIB follows again
    fake.feed(state(CORE, up=False), state(CORE))
    assert len(eor_lines(fake)) == 2


def test_a_silent_cloud_peer_cannot_hold_end_of_rib_forever() -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock)
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), eor(AWS))  # gcp: up, but sends nothing at all
    clock.now += READY_TIMEOUT - 1
    fake.agent.tick()
    assert not eor_lines(fake)
    clock.now += 2
    fake.agent.tick()
    assert eor_lines(fake)


def test_what_a_peer_sends_before_its_route_refresh_does_not_make_it_ready() -> None:
    """A withdraw that arrives before the refresh went out says nothing about the table: no early judging."""
    clock = Clock()
    fake = running(clock)
    fake.hold_acks = True  # the refresh waits behind the acks ExaBGP still owes
    agent = fake.restart_helper()
    mark = len(fake.lines)
    agent.start()
    fake.feed(withdraw(AWS, [SIX[5]]))
    assert not [x for x in fake.lines[mark:] if " route-refresh " in x]
    clock.now += SETTLE * 2
    fake.hold_acks = False
    fake.release()
    agent.tick()
    assert not [x for x in withdrawn(fake, mark) if "path-information 1 " in x]  # nothing of fra judged yet
    fake.feed(update(AWS, SIX[:5]), update(GCP, SIX, asn=16550))
    clock.now += SETTLE + 0.1
    agent.tick()
    assert withdrawn(fake, mark) == [
        f"neighbor {CORE} withdraw attributes path-information 1 next-hop 0.0.0.0 nlri {SIX[5]}"
    ]


def test_acks_owed_to_a_killed_helper_do_not_pair_with_the_new_ones_commands() -> None:
    """Killed mid-table: ExaBGP still runs the dead helper's last commands and acks them to the new helper, ahead
    of the answers to its own.  Paired with its commands, they would shift every pairing: the session summary and
    the adj-RIB-out dump would be taken for lines nobody asked for (sessions idle, nothing reconciled)."""
    clock = Clock()
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock, hold_acks=True)
    fake.agent.start()
    fake.release()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX, asn=16550))
    owed = sum(1 for x in fake.held if x in ("done", "error"))
    assert owed >= 2  # ExaBGP has run the announcements, their acks are still on the way
    agent = fake.restart_helper(carry_acks=True)
    agent.start()
    fake.release()
    assert agent.malformed == 0
    assert agent.ledger.extra_acks == 0
    assert agent.previous_acks == owed
    assert {p: i.state for p, i in agent.engine.peers.items()} == {AWS: "up", GCP: "up"}  # recovered, not idle
    assert agent.reconciler is not None
    assert len(agent.reconciler.held) == len(fake.rib)


def test_routes_before_the_refresh_do_not_make_a_recovered_peer_ready() -> None:
    """A session recovered as up from ExaBGP's summary has been up all along: it is not resending its table.  Routes
    it sends while the refresh waits behind a slow dump, then quiet, must not get its held paths judged."""
    clock = Clock()
    fake = running(clock)
    agent = fake.restart_helper()
    fake.defer_dump = True
    fake.hold_acks = True  # ExaBGP answers after the helper has sent its start commands, as it really does
    mark = len(fake.lines)
    agent.start()
    fake.hold_acks = False
    fake.release()
    assert agent.engine.peers[GCP].state == "up"  # recovered from the summary
    assert not [x for x in fake.lines[mark:] if " route-refresh " in x]  # the refresh waits behind the dump
    fake.feed(update(GCP, SIX[:2], asn=16550))  # a change the peer sends meanwhile, not its table
    clock.now += SETTLE * 2
    agent.tick()
    fake.hold_acks = True
    fake.deliver_dump()
    fake.release(1)  # the dump and its ack; the acks behind it are still owed, so the refresh still waits
    assert agent.reconciler is not None
    assert agent.reconciler.dump_done
    assert not [x for x in fake.lines[mark:] if " route-refresh " in x]
    agent.tick()
    assert not [x for x in withdrawn(fake, mark) if "path-information 2 " in x], (
        "gcp's held paths judged before its refresh"
    )
    fake.hold_acks = False
    fake.release()
    assert [x for x in fake.lines[mark:] if " route-refresh " in x]
    fake.feed(update(GCP, SIX, asn=16550), update(AWS, SIX))  # their answers to the refresh
    clock.now += SETTLE + 0.1
    agent.tick()
    assert not withdrawn(fake, mark)
    assert agent.reconciler is None


def test_without_the_summary_header_acks_are_paired_again_after_a_timeout() -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock)
    fake.answer_summary = False
    fake.agent.start()
    assert not fake.agent.synced
    clock.now += SYNC_TIMEOUT
    fake.agent.tick()
    assert fake.agent.synced
    fake.feed(state(CORE), state(AWS), update(AWS, SIX))
    assert not fake.agent.ledger.pending  # every command paired with its own ack
    assert fake.paths(CORE) >= {(p, 1) for p in SIX}
    assert fake.agent.ledger.extra_acks == 0
    assert not fake.agent.ledger.rejected


def test_a_peer_bracketing_its_table_is_judged_at_its_end_marker_not_at_a_pause() -> None:
    """Enhanced route refresh: a pause longer than --settle inside the re-sent table (BIRD sent its last 16 prefixes
    2.2 s after the rest, measured) must not make the peer look complete; its End-of-Route-Refresh does."""
    clock = Clock()
    fake = running(clock)
    agent = fake.restart_helper()
    mark = len(fake.lines)
    agent.start()
    fake.feed(refresh_marker(AWS, end=False), update(AWS, SIX), refresh_marker(AWS, end=True))
    fake.feed(refresh_marker(GCP, end=False), update(GCP, SIX[:3], asn=16550))
    for _ in range(3):  # a pause of 3 x SETTLE in the middle of gcp's table
        clock.now += SETTLE
        agent.tick()
    assert not withdrawn(fake, mark)  # before: SIX[3:] via ams withdrawn here, re-announced a moment later
    assert agent.reconciler is not None
    fake.feed(update(GCP, SIX[3:5], asn=16550), refresh_marker(GCP, end=True))
    agent.tick()
    assert withdrawn(fake, mark) == [
        f"neighbor {CORE} withdraw attributes path-information 2 next-hop 0.0.0.0 nlri {SIX[5]}"
    ]  # gcp's table ended without SIX[5]: that one is gone
    assert agent.reconciler is None
