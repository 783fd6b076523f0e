"""One ranking: the core's choice (explain's order, simulate's prediction, the NOC's primary egress) agrees with
RFC 4271's pairwise rules, written here independently, for random candidate sets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.ranking import DEFAULT_LOCAL_PREF, core_choice, core_order

attrs_st = st.builds(
    lambda lp, path, origin, med: Attrs(origin=origin, as_path=tuple(path), med=med, local_pref=lp),
    st.one_of(st.none(), st.sampled_from([0, 100, 150, 200])),
    st.lists(st.sampled_from([64512, 16550, 65001]), max_size=3),
    st.sampled_from(["igp", "egp", "incomplete"]),
    st.one_of(st.none(), st.sampled_from([0, 10, 20])),
)
outs = st.lists(attrs_st, min_size=1, max_size=5).map(lambda xs: [(i + 1, a) for i, a in enumerate(xs)])


def better(a: Attrs, b: Attrs) -> bool | None:
    """RFC 4271 9.1.2.2 as the core applies it between two paths from the route server: True if a wins, False if b
    wins, None if the core breaks the tie by itself (IGP cost, router id)."""
    lp_a = a.local_pref if a.local_pref is not None else DEFAULT_LOCAL_PREF
    lp_b = b.local_pref if b.local_pref is not None else DEFAULT_LOCAL_PREF
    if lp_a != lp_b:
        return lp_a > lp_b
    if len(a.as_path) != len(b.as_path):
        return len(a.as_path) < len(b.as_path)
    rank = {"igp": 0, "egp": 1, "incomplete": 2}
    if rank[a.origin] != rank[b.origin]:
        return rank[a.origin] < rank[b.origin]
    same_as = (a.as_path[:1] or (0,)) == (b.as_path[:1] or (0,))
    if same_as and (a.med or 0) != (b.med or 0):
        return (a.med or 0) < (b.med or 0)
    return None


@given(outs, st.sets(st.integers(1, 5)))
def test_the_core_choice_is_never_beaten_and_ties_are_real(out: list[tuple[int, Attrs]], usable: set[int]) -> None:
    pid, tie = core_choice(out, usable)
    cands = {p: a for p, a in out if p in usable}
    if not cands:
        assert pid is None
        assert not tie
        return
    assert pid in cands
    chosen = cands[pid]
    assert not any(better(a, chosen) is True for p, a in cands.items() if p != pid), (
        "a usable path beats the core's choice"
    )
    rivals = [p for p, a in cands.items() if p != pid and better(chosen, a) is None]
    assert tie == bool(rivals), (tie, rivals)  # a tie exactly when another usable path is neither better nor worse
    order = core_order(out, usable)
    assert order[0][0] == pid
    assert [p for p, _, _ in order][: len(cands)] == [p for p, _, _ in order if p in usable]


@given(outs, st.sets(st.integers(1, 5)))
def test_the_order_puts_every_usable_path_first_and_never_ranks_a_loser_above_its_winner(
    out: list[tuple[int, Attrs]], usable: set[int]
) -> None:
    order = core_order(out, usable)
    assert sorted(p for p, _, _ in order) == sorted(p for p, _ in out)
    for i, (p, a, _) in enumerate(order):
        for q, b, _ in order[i + 1 :]:
            if (p in usable) == (q in usable):
                assert better(b, a) is not True, (p, q)
