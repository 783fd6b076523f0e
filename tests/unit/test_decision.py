"""The best candidate per egress: what bgpsteer announces for each egress when several peers reach it."""

from __future__ import annotations

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.decision import Path, best_per_egress
from bgpsteer.core.model import CloudPeer
from bgpsteer.core.policy import Verdict


def path(name: str, egress: str, accepted: bool = True, **attrs: object) -> Path:
    a = Attrs(next_hop="10.1.0.2", **attrs)  # type: ignore[arg-type]
    peer = CloudPeer(name, "10.1.0.2", 64512, egress, "aws", "eu-central-1")
    return Path(peer, a, Verdict(accepted, a if accepted else None, ("t",)))


def test_one_best_path_per_egress_with_the_number_of_candidates() -> None:
    low = path("aws-a", "fra", local_pref=100)
    high = path("aws-b", "fra", local_pref=200)
    rejected = path("aws-c", "fra", accepted=False, local_pref=900)
    other = path("gcp", "ams", local_pref=50)
    best = best_per_egress([low, rejected, high, other])
    assert best == {"fra": (high, 2), "ams": (other, 1)}
    # the order of the candidates does not matter
    assert best_per_egress([other, high, low]) == best


def test_ties_fall_to_as_path_then_med_then_the_peer_name() -> None:
    long = path("a", "fra", as_path=(64512, 174))
    short = path("z", "fra", as_path=(64512,))
    assert best_per_egress([long, short])["fra"][0] is short
    hi_med = path("a", "fra", as_path=(64512,), med=20)
    lo_med = path("z", "fra", as_path=(64512,), med=10)
    assert best_per_egress([hi_med, lo_med])["fra"][0] is lo_med
    first = path("a", "fra", as_path=(64512,))
    second = path("b", "fra", as_path=(64512,))
    assert best_per_egress([second, first])["fra"][0] is first
    assert best_per_egress([first, second])["fra"] == (first, 2)


def test_no_accepted_candidate_no_entry() -> None:
    assert best_per_egress([path("a", "fra", accepted=False)]) == {}
    assert best_per_egress([]) == {}


def test_cost_bonus_uses_exactly_the_room_up_to_the_next_level() -> None:
    from bgpsteer.core.decision import cost_bonus
    from bgpsteer.core.model import Egress

    def eg(name: str, cost: float) -> Egress:
        return Egress(name, "r", "EU", cost, "10.255.0.1", 1)

    a, b, c, d = eg("a", 0.01), eg("b", 0.02), eg("c", 0.03), eg("d", 0.04)
    # three tied at 100, the next level at 102: one value of room above (101), plenty below
    assert cost_bonus([(1, 100, a), (2, 100, b), (3, 100, c), (4, 102, d)]) == {1: 1, 2: 0, 3: -1}
    # and below: a level at 98 leaves one value (99) under 100
    assert cost_bonus([(1, 100, a), (2, 100, b), (3, 100, c), (5, 98, d)]) == {1: 2, 2: 1, 3: 0}
    assert cost_bonus([(1, 100, a), (2, 100, b), (3, 100, c), (4, 101, d), (5, 98, d)]) == {1: 0, 2: -1, 3: -1}
    # the bottom of the range: LOCAL_PREF 1 cannot step down (0 means drained)
    assert cost_bonus([(1, 1, a), (2, 1, b), (4, 2, d)]) == {1: 0, 2: 0}
