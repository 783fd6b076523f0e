"""The RIB's bookkeeping (core/rib.py) and a pass's diff (core/diff.py), with exact values."""

from __future__ import annotations

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.decision import EMPTY
from bgpsteer.core.diff import Diff
from bgpsteer.core.model import CloudPeer
from bgpsteer.core.policy import Verdict
from bgpsteer.core.rib import Entry, PeerInfo, check_prefix, path_of, store

PEER = CloudPeer("aws", "10.1.0.2", 64512, "fra", "aws", "eu-central-1")
A = Attrs(next_hop="10.1.0.2", as_path=(64512,))
YES = Verdict(True, A, ("accepted",))
NO = Verdict(False, None, ("rejected",))


def test_a_new_entry_has_no_paths_and_announces_nothing() -> None:
    e = Entry((4, 0x2C000100, 24), 3, 7)
    assert (e.paths, e.out, e.prefix_class, e.gen) == ([], EMPTY, 3, 7)


def test_check_prefix_names_the_family_that_does_not_fit() -> None:
    assert check_prefix("44.0.1.0/24", 4) == (4, 0x2C000100, 24)
    assert check_prefix("fd00::/48", 4) == "ipv6 prefix 'fd00::/48' in an ipv4 UPDATE"
    assert check_prefix("44.0.010.0/24", 4) == "prefix '44.0.010.0/24' is not in canonical form (44.0.10.0/24)"


def test_the_peers_counts_follow_every_stored_route() -> None:
    info = PeerInfo(PEER)
    one, two, three = (Entry((4, i << 8, 24), 0) for i in range(3))
    store(info, one, None, A, YES)
    store(info, two, None, A, YES)
    store(info, three, None, A, NO)
    assert (info.routes, info.accepted) == (3, 2)
    store(info, one, path_of(one, PEER), A, NO)  # an accepted route now rejected
    assert (info.routes, info.accepted) == (3, 1)
    store(info, three, path_of(three, PEER), A, YES)  # a rejected one now accepted
    assert (info.routes, info.accepted) == (3, 2)
    store(info, two, path_of(two, PEER), A, YES)  # accepted again: nothing changes
    assert (info.routes, info.accepted) == (3, 2)
    assert path_of(one, PEER) is not None
    assert path_of(one, PEER).verdict is NO  # type: ignore[union-attr]


def test_a_diff_counts_only_new_paths_as_added() -> None:
    d = Diff()
    b = A.evolve(med=5)
    d.add("44.0.1.0/24", EMPTY, ((1, A), (2, A)))  # a new prefix: both paths new
    d.add("44.0.2.0/24", ((1, A),), ((1, b), (2, A)))  # path 1 replaced, path 2 new
    d.add("44.0.3.0/24", ((1, A), (2, A)), ((1, A),))  # path 2 withdrawn
    assert dict(d.added) == {1: 1, 2: 2}
    assert dict(d.withdraw) == {(4, 2): ["44.0.3.0/24"]}
    assert d.changes[2:] == [("44.0.2.0/24", 1, A, b), ("44.0.2.0/24", 2, None, A), ("44.0.3.0/24", 2, A, None)]
