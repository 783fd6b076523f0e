"""The core state machine: events in, effects out."""

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Effect, Log, PeerState, RoutesAnnounced, RoutesWithdrawn, Teardown, Withdraw
from lab.textedit import yaml_edited
from tests.unit.helpers import ACCEPT_ALL, config

AWS, GCP = "10.1.0.2", "10.2.0.2"
A = Attrs(next_hop=AWS, as_path=(64512,), communities=((64512, 100),))
G = Attrs(next_hop=GCP, as_path=(16550,))

POLICY = """
sets:
  prefix:
    aws-eu: ["10.10.0.0/16 le 24"]
policy:
  import:
    default: accept
    statements:
      - name: aws-direct
        match: {prefix: aws-eu, provider: aws}
        set: {local_pref: 200, large_community: {add: ["65000:1:1"]}}
        then: accept
      - name: drop-long-paths
        match: {as_path_length: {min: 5}}
        then: reject
  export:
    default: accept
    statements:
      - name: tag
        set: {community: {add: ["65000:100"]}, med: "+5"}
        then: accept
"""


def announced(effects: list[Effect]) -> dict[tuple[str, int], Attrs]:
    return {(p, e.path_id): e.attrs for e in effects if isinstance(e, Announce) for p in e.prefixes}


def withdrawn(effects: list[Effect]) -> set[tuple[str, int]]:
    return {(p, e.path_id) for e in effects if isinstance(e, Withdraw) for p in e.prefixes}


def test_policy_steers_and_export_applies() -> None:
    eng = Engine(config(POLICY))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16", "10.99.0.0/16"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, G, ["10.10.0.0/16"]), 0)
    out = announced(eng.flush(1))
    fra = out[("10.10.0.0/16", 1)]
    assert fra.local_pref == 200
    assert fra.next_hop == "10.255.0.1"
    assert fra.large_communities == ((65000, 1, 1),)
    assert fra.communities == ((64512, 100), (65000, 100))
    assert fra.med == 5
    ams = out[("10.10.0.0/16", 2)]
    assert ams.local_pref == 100
    assert ams.next_hop == "10.255.0.2"
    assert out[("10.99.0.0/16", 1)].local_pref == 100
    assert eng.flush(2) == []  # nothing changed, nothing sent


def test_withdraw_and_peer_down_flush() -> None:
    eng = Engine(config(ACCEPT_ALL))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16", "10.11.0.0/16"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, G, ["10.10.0.0/16"]), 0)
    eng.flush(0)
    eng.handle(RoutesWithdrawn(AWS, 4, ["10.11.0.0/16"]), 1)
    assert withdrawn(eng.flush(1)) == {("10.11.0.0/16", 1)}
    eng.handle(PeerState(GCP, "down", "hold timer expired"), 2)
    assert withdrawn(eng.flush(2)) == {("10.10.0.0/16", 2)}
    assert eng.peers[GCP].routes == 0
    assert "10.10.0.0/16" in eng.rib


def test_attribute_change_reannounces_only_that_path() -> None:
    eng = Engine(config(ACCEPT_ALL))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, G, ["10.10.0.0/16"]), 0)
    eng.flush(0)
    eng.handle(RoutesAnnounced(AWS, 4, A.evolve(med=7), ["10.10.0.0/16"]), 1)
    effects = eng.flush(1)
    assert set(announced(effects)) == {("10.10.0.0/16", 1)}
    assert not withdrawn(effects)


def test_import_safety_rejects_with_reason() -> None:
    eng = Engine(config(ACCEPT_ALL))
    bad = ["192.0.2.0/24", "10.1.2.0/25", "0.0.0.0/0", "224.0.0.0/4"]
    eng.handle(RoutesAnnounced(AWS, 4, A, bad), 0)
    eng.handle(RoutesAnnounced(AWS, 6, A, ["fd10::/64"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, A.evolve(next_hop="127.0.0.1"), ["10.50.0.0/16"]), 0)
    assert announced(eng.flush(0)) == {}
    reasons = {p: t[-1] for p, _, t in eng.rejected()}
    assert "special-purpose" in reasons["192.0.2.0/24"]
    assert "too specific" in reasons["10.1.2.0/25"]
    assert "default route" in reasons["0.0.0.0/0"]
    assert "too specific" in reasons["fd10::/64"]
    assert "martian next-hop" in reasons["10.50.0.0/16"]


def test_invalid_prefix_text_is_skipped_and_counted_never_stored() -> None:
    # ExaBGP refuses a whole command line for one non-canonical prefix: such text must never reach the RIB
    eng = Engine(config(ACCEPT_ALL))
    bad = ["not-a-prefix", "44.0.010.0/24", "44.0.9.0/024", "44.0.9.1/24", "fd10::/48", "44.0.9.0/33"]
    effects = eng.handle(RoutesAnnounced(AWS, 4, A, [*bad, "44.0.8.0/24"]), 0)
    effects += eng.handle(RoutesAnnounced(AWS, 6, A, ["44.0.7.0/24", "2001:0db8::/32"]), 0)
    assert eng.stats.invalid_prefixes == len(bad) + 2
    assert set(eng.rib) == {"44.0.8.0/24"}
    logs = [e.message for e in effects if isinstance(e, Log)]
    assert any("not-a-prefix" in m for m in logs)
    assert any("44.0.7.0/24" in m for m in logs)
    assert set(announced(eng.flush(0))) == {("44.0.8.0/24", 1)}


def test_private_space_is_accepted_by_default_and_rejectable() -> None:
    eng = Engine(config(ACCEPT_ALL, "safety: {reject_private: true}\n"))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16", "8.8.8.0/24"]), 0)
    assert set(announced(eng.flush(0))) == {("8.8.8.0/24", 1)}


def test_reject_statement_and_default_reject() -> None:
    eng = Engine(config(POLICY))
    eng.handle(RoutesAnnounced(AWS, 4, A.evolve(as_path=(1, 2, 3, 4, 5)), ["10.77.0.0/16"]), 0)
    assert announced(eng.flush(0)) == {}
    ((_, _, trace),) = eng.rejected()
    assert trace[-1] == "import statement 'drop-long-paths' matched; reject"


def test_ipv6_routes_use_the_egress_ipv6_next_hop() -> None:
    eng = Engine(config(ACCEPT_ALL))
    eng.handle(RoutesAnnounced(AWS, 6, A.evolve(next_hop="fd00:1::2"), ["fd10:10::/48"]), 0)
    effects = eng.flush(0)
    (e,) = [x for x in effects if isinstance(x, Announce)]
    assert e.afi == 6
    assert e.attrs.next_hop == "fd00:255::1"


def test_max_prefix_stop_and_teardown() -> None:
    cfg = config(ACCEPT_ALL, "safety: {max_prefix: {limit: 2, action: stop}}\n")
    eng = Engine(cfg)
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"]), 0)
    assert len(announced(eng.flush(0))) == 2
    assert eng.peers[AWS].refused == 1
    eng2 = Engine(config(ACCEPT_ALL, "safety: {max_prefix: {limit: 2, action: teardown}}\n"))
    effects = eng2.handle(RoutesAnnounced(AWS, 4, A, ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"]), 0)
    assert any(isinstance(e, Teardown) and e.peer == AWS for e in effects)
    assert eng2.peers[AWS].routes == 0


def test_unknown_peer_is_logged_not_fatal() -> None:
    eng = Engine(config(ACCEPT_ALL))
    effects = eng.handle(RoutesAnnounced("192.168.99.1", 4, A, ["10.1.0.0/16"]), 0)
    assert effects
    assert eng.stats.unknown_peer_events == 1
    assert not eng.rib


def test_reload_swaps_policy_and_sends_the_difference() -> None:
    eng = Engine(config(ACCEPT_ALL))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, G, ["10.10.0.0/16"]), 0)
    eng.flush(0)
    only_fra = yaml_edited(
        ACCEPT_ALL,
        lambda doc: doc["policy"]["export"].update(
            statements=[{"name": "no-ams", "match": {"egress": "ams"}, "then": "reject"}]
        ),
    )
    effects = eng.reload(config(only_fra), 1)
    assert withdrawn(effects) == {("10.10.0.0/16", 2)}
    assert not announced(effects)


def test_policy_runtime_error_fails_closed() -> None:
    eng = Engine(config(POLICY))

    class Boom:
        def __call__(self, r: object) -> None:
            raise RuntimeError("boom")

        def describe(self) -> str:
            return "boom"

    st0 = eng.config.import_policy.statements[0]
    object.__setattr__(st0, "conditions", (Boom(),))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/16"]), 0)
    assert announced(eng.flush(0)) == {}
    assert eng.policy_errors == 1
    assert "evaluation error" in next(eng.rejected())[2][-1]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([AWS, GCP]), st.sampled_from(["a", "w", "d"]), st.integers(0, 5)), max_size=40)
)
def test_announced_state_always_equals_a_fresh_decision(ops: list[tuple[str, str, int]]) -> None:
    """Whatever the order of events, incremental flushes converge on a from-scratch decision."""
    eng = Engine(config(POLICY))
    sent: dict[tuple[str, int], Attrs] = {}
    for peer, op, i in ops:
        prefix = f"10.10.{i}.0/24"
        attrs = A if peer == AWS else G
        if op == "a":
            eng.handle(RoutesAnnounced(peer, 4, attrs, [prefix]), 0)
        elif op == "w":
            eng.handle(RoutesWithdrawn(peer, 4, [prefix]), 0)
        else:
            eng.handle(PeerState(peer, "down"), 0)
        for e in eng.flush(0):
            if isinstance(e, Announce):
                sent.update({(p, e.path_id): e.attrs for p in e.prefixes})
            elif isinstance(e, Withdraw):
                for p in e.prefixes:
                    assert (p, e.path_id) in sent, "withdrew something never announced"
                    del sent[(p, e.path_id)]
    fresh = {(p, pid): a for p, pid, a in eng.announced_routes()}
    assert sent == fresh
