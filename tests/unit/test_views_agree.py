"""One ranking, every view: the decision's ranking, explain's, the NOC's primary egress and simulate's prediction
agree on random candidate sets (core/ranking.py is the only copy; this guards that every view goes through it),
and all of them agree with an oracle written here from RFC 4271's rules alone, without bgpsteer's ranking code."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import RoutesAnnounced
from bgpsteer.core.ranking import core_choice
from bgpsteer.core.view import CoreView
from bgpsteer.noc import queries
from tests.unit.helpers import PEERS, PROBES

EGRESSES = ("fra", "ams", "iad")
PREFIXES = [f"10.{60 + i}.0.0/24" for i in range(4)] + ["10.50.1.0/24"]  # the last is EU-bound (compliance)

candidate = st.tuples(
    st.sampled_from(EGRESSES),  # through which egress's peer
    st.integers(1, 3),  # AS-path length
    st.sampled_from(["igp", "egp", "incomplete"]),
    st.one_of(st.none(), st.integers(0, 50)),  # MED
)


JURISDICTION = {"fra": "EU", "ams": "EU", "iad": "US"}
ORIGIN = {"igp": 0, "egp": 1, "incomplete": 2}


def oracle(
    prefix: str,
    latest: dict[str, tuple[int, str, int | None]],
    local_prefs: dict[str, int],
    tiebreak: bool,
    down: str | None = None,
) -> set[str]:
    """The egress a core uses for a prefix, from first principles: the last route each egress's one peer sent; only
    EU egresses for the EU-bound prefix; announced LOCAL_PREF = the policy's plus the cost tie-break (equal costs
    here: among egresses with the same policy LOCAL_PREF, the first by id gets the most, one step apart; unless
    ``tiebreak`` is off); then the highest LOCAL_PREF, the shortest AS path, the lowest origin.  Each egress's peer
    is its own AS, so MED never decides: paths equal so far are a tie the core breaks by itself.  The set of egresses
    the core may use (several: a tie; none: no usable path).  ``down``: that egress's paths are unusable."""
    announced = {e: c for e, c in latest.items() if not prefix.startswith("10.50.") or JURISDICTION[e] == "EU"}
    lp: dict[str, int] = {}
    for level in set(local_prefs[e] for e in announced):
        group = sorted(e for e in announced if local_prefs[e] == level)
        for rank, e in enumerate(group):
            lp[e] = level + (len(group) - 1 - rank if tiebreak else 0)
    usable = [e for e in announced if e != down]
    if not usable:
        return set()

    def key(e: str) -> tuple[int, int, int]:
        return (-lp[e], announced[e][0], ORIGIN[announced[e][1]])

    best = min(key(e) for e in usable)
    return {e for e in usable if key(e) == best}


def engine(local_prefs: dict[str, int], tiebreak: bool) -> Engine:
    statements = "".join(
        f"      - {{name: lp-{e}, match: {{egress: {e}}}, set: {{local_pref: {lp}}}, then: accept}}\n"
        for e, lp in local_prefs.items()
    )
    text = (
        "agent: {local_asn: 65000, router_id: 10.0.0.1}\n" + PROBES + "policy:\n  import:\n    default: accept\n"
        "    statements:\n" + statements + "  export: {default: accept}\n"
        f"steering: {{cost_tiebreak: {str(tiebreak).lower()}}}\n"
    )
    eng = Engine(parse(text, "t.yaml"))
    eng.start(0)
    return eng


@settings(max_examples=120, deadline=None)
@given(
    local_prefs=st.fixed_dictionaries({e: st.sampled_from([100, 150, 200]) for e in EGRESSES}),
    routes=st.lists(st.tuples(st.sampled_from(PREFIXES), candidate), min_size=1, max_size=12),
    fail=st.sampled_from(EGRESSES),
    tiebreak=st.booleans(),
)
def test_decision_explain_noc_and_simulate_agree(
    local_prefs: dict[str, int], routes: list[tuple[str, tuple[str, int, str, int | None]]], fail: str, tiebreak: bool
) -> None:
    eng = engine(local_prefs, tiebreak)
    asns = {"fra": 64512, "ams": 16550, "iad": 8075}
    for prefix, (egress, length, origin, med) in routes:
        attrs = Attrs(next_hop=PEERS[egress], as_path=(asns[egress],) * length, origin=origin, med=med)
        eng.handle(RoutesAnnounced(PEERS[egress], 4, attrs, [prefix]), 0)
    eng.flush(0)
    view = CoreView(eng)
    egress_of = {e.path_id: e.id for e in eng.config.egresses}
    predicted = {m["prefix"]: m for m in view.simulate({fail}, 1)["moved"]}
    withdrawn = {w["prefix"] for w in view.simulate({fail}, 1)["withdrawn"]}
    for prefix in set(p for p, _ in routes):
        decision = view.decision(prefix)
        assert decision is not None
        latest = {egress: (length, origin, med) for p, (egress, length, origin, med) in routes if p == prefix}
        expected = oracle(prefix, latest, local_prefs, tiebreak)
        assert decision.primary in expected if expected else decision.primary is None
        assert decision.tie == (len(expected) > 1)
        ex = queries.explain(view, prefix)
        route = queries.routes(view, prefix)["routes"][0]
        # explain's ranking, the NOC's primary and the decision are one ranking
        assert [r["egress"] for r in ex["ranking"]] == [r.egress for r in decision.ranking]
        assert ex["primary"] == route["primary"] == decision.primary
        assert ex["tie"] == route["tie"] == decision.tie
        usable = [r for r in decision.ranking if r.in_service]
        assert (decision.primary is None) == (not usable)
        if usable and not decision.tie:
            assert decision.primary == usable[0].egress
        # simulate's prediction for failing one egress is the same ranking without that egress
        entry = eng.rib[prefix]
        pid, tie = core_choice(entry.out, view.usable_path_ids() - {eng.config.egress(fail).path_id})
        after = egress_of[pid] if pid is not None else None
        expected_after = oracle(prefix, latest, local_prefs, tiebreak, down=fail)
        assert after in expected_after if expected_after else after is None
        assert tie == (len(expected_after) > 1)
        if after == decision.primary:
            assert prefix not in predicted
            assert prefix not in withdrawn
        elif after is None:
            assert prefix in withdrawn
        else:
            assert predicted[prefix]["from"] == decision.primary
            assert predicted[prefix]["to"] == after
            assert predicted[prefix]["tie"] == tie
            assert after == next(r.egress for r in decision.ranking if r.in_service and r.egress != fail)
