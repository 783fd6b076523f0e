"""The pipe to ExaBGP under faults, against FakeExaBGP (ExaBGP's own parser, in-process, no root)."""

from __future__ import annotations

from bgpsteer.config.loader import parse
from bgpsteer.noc import queries
from tests.fake.world import AWS, CONFIG, CORE, GCP, SIX
from tests.fake_exabgp import Clock, FakeExaBGP, state, update


def exabgp_state(fake: FakeExaBGP, prefix: str) -> dict[str, str]:
    (route,) = queries.routes(fake.agent.view, prefix, ledger=fake.agent.ledger)["routes"]
    return {p["egress"]: p["exabgp"] for p in route["paths"]}


def test_one_refused_prefix_does_not_take_its_batch_down(fake: FakeExaBGP) -> None:
    fake.refuse = {SIX[3]}
    fake.feed(update(AWS, SIX))
    assert fake.paths(CORE) >= {(p, 1) for p in SIX if p != SIX[3]}  # the five good ones reached the core
    assert (SIX[3], 1) not in fake.paths(CORE)
    assert set(fake.agent.ledger.rejected) == {(SIX[3], 1, CORE)}
    assert exabgp_state(fake, SIX[3]) == {"fra": "rejected"}
    assert exabgp_state(fake, SIX[2]) == {"fra": "accepted"}
    status = queries.status(fake.agent)
    assert status["pipe"]["rejected_paths"] == 1
    assert status["pipe"]["acks_error"] >= 1
    # ExaBGP takes it later (another attribute set): the rejection is cleared
    fake.refuse = set()
    fake.feed(update(AWS, [SIX[3]], med=7))
    assert (SIX[3], 1) in fake.paths(CORE)
    assert not fake.agent.ledger.rejected


def test_a_lost_ack_is_detected_after_the_timeout_and_pairing_stays_right(fake: FakeExaBGP, clock: Clock) -> None:
    fake.lose_next_acks = 1
    fake.feed(update(AWS, SIX[:2]))
    assert fake.agent.ledger.missing_acks == 0
    clock.now += fake.agent.ledger.ack_timeout + 1
    fake.agent.tick()
    assert fake.agent.ledger.missing_acks == 1
    assert fake.agent.ledger.state(SIX[0], 1) == "unconfirmed"
    fake.refuse = {SIX[5]}
    fake.feed(update(GCP, [SIX[5]]))
    assert set(fake.agent.ledger.rejected) == {(SIX[5], 2, CORE)}  # the error is reported against the right command


def test_an_extra_ack_is_logged_and_does_not_shift_the_pairing(fake: FakeExaBGP) -> None:
    fake.extra_ack()
    assert fake.agent.ledger.extra_acks == 1
    fake.refuse = {SIX[1]}
    fake.feed(update(AWS, SIX[:3]))
    assert set(fake.agent.ledger.rejected) == {(SIX[1], 1, CORE)}
    assert fake.paths(CORE) >= {(SIX[0], 1), (SIX[2], 1)}


def test_a_slow_exabgp_gets_the_latest_decision_not_every_intermediate_one(clock: Clock) -> None:
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock, hold_acks=True)
    fake.agent.window_routes = 4
    fake.feed(state(CORE), state(AWS))
    for med in range(50):  # 50 attribute changes of the same six prefixes while ExaBGP is busy
        fake.feed(update(AWS, SIX, med=med))
    sent_while_busy = len(fake.lines)
    assert sent_while_busy <= 3  # the first pass only; the rest coalesced in the engine's dirty set
    assert fake.agent.deferred_flushes > 0
    while fake.held:
        fake.release()
    assert all("med 49" in a for (n, p, pid), a in fake.rib.items() if p in SIX)
    assert len(fake.lines) - sent_while_busy <= 3


def test_commands_exabgp_answers_at_once_wait_until_nothing_is_outstanding(clock: Clock) -> None:
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock, hold_acks=True)
    fake.sessions[GCP] = "active"
    fake.agent.start()  # a route refresh is answered at once when its peer is not up: it must never overtake other acks

    def refreshes() -> list[str]:
        return [x for x in fake.lines if " route-refresh " in x]

    assert fake.lines[:2] == ["show neighbor summary", "show adj-rib out extensive"]
    assert not refreshes()
    fake.release()  # every ack owed so far: the refresh goes out alone, and only to the peer whose session is up
    assert refreshes() == [f"neighbor {AWS} announce route-refresh ipv4 unicast"]
    assert fake.lines[-1] == refreshes()[0]
    fake.release()
    assert len(refreshes()) == 1


def test_session_states_are_recovered_after_a_helper_restart(fake: FakeExaBGP) -> None:
    fake.sessions[GCP] = "active"
    agent = fake.restart_helper()
    agent.start()
    status = queries.status(agent)
    assert {p["name"]: p["state"] for p in status["cloud_peers"]} == {"aws": "up", "gcp": "down"}
    assert [c["state"] for c in status["core_routers"]] == ["up"]
