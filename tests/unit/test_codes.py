"""Stable reason codes: every rejection the core makes has its own code; reasons on the wire when asked for."""

from __future__ import annotations

import pytest

from bgpsteer.core.attrs import Attrs
from bgpsteer.core.codes import Reject, Trigger, Wire, reject_code, tables, trigger_code
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Changed, RoutesAnnounced
from bgpsteer.core.view import CoreView
from bgpsteer.exabgp.codec import encode_one
from tests.contract.oracle import accepts
from tests.unit.helpers import config

POLICY = """
sets:
  prefix:
    blocked: ["10.66.0.0/16 le 24"]
policy:
  import:
    default: reject
    statements:
      - {name: drop-blocked, match: {prefix: blocked}, then: reject}
      - {name: aws, match: {provider: aws}, set: {local_pref: 200}, then: accept}
      - {name: gcp, match: {provider: gcp}, set: {local_pref: 150}, then: accept}
  export: {default: accept}
"""
AWS, GCP = "10.1.0.2", "10.2.0.2"


def verdicts(routes: dict[str, tuple[str, Attrs]], extra: str = "") -> dict[str, tuple[bool, tuple[str, ...], bool]]:
    eng = Engine(config(POLICY, extra))
    eng.start(0)
    for prefix, (peer, attrs) in routes.items():
        eng.handle(RoutesAnnounced(peer, 6 if ":" in prefix else 4, attrs, [prefix]), 0)
    eng.flush(0)
    out = {}
    for prefix in routes:
        (p,) = eng.rib[prefix].paths
        out[prefix] = (p.verdict.accepted, p.verdict.trace, p.verdict.error)
    return out


A = Attrs(next_hop=AWS, as_path=(64512,))


@pytest.mark.parametrize(
    ("prefix", "peer", "attrs", "code"),
    [
        ("10.10.1.0/24", AWS, A, Reject.ACCEPTED),
        ("10.66.1.0/24", AWS, A, Reject.POLICY_STATEMENT),
        ("10.30.0.0/16", "10.9.9.9", A, Reject.OTHER),  # not a configured peer: never in the RIB (skipped below)
        ("0.0.0.0/0", AWS, A, Reject.DEFAULT_ROUTE),
        ("10.10.1.0/25", AWS, A, Reject.TOO_SPECIFIC),
        ("192.0.2.0/24", AWS, A, Reject.SPECIAL_PURPOSE),
        ("10.10.2.0/24", AWS, Attrs(next_hop="127.0.0.1"), Reject.MARTIAN_NEXT_HOP),
        ("10.10.3.0/24", AWS, Attrs(next_hop="not-an-address"), Reject.INVALID_NEXT_HOP),
        ("10.255.0.0/24", AWS, A, Reject.COVERS_NEXT_HOP),
    ],
)
def test_each_rejection_has_its_own_code(prefix: str, peer: str, attrs: Attrs, code: Reject) -> None:
    if peer == "10.9.9.9":
        assert reject_code(False, ("something new",)) is Reject.OTHER
        return
    accepted, trace, error = verdicts({prefix: (peer, attrs)})[prefix]
    assert reject_code(accepted, trace, error) is code, trace


def test_policy_default_private_family_and_errors() -> None:
    gcp_only = "policy:\n  import: {default: reject}\n  export: {default: accept}\n"
    eng = Engine(config(gcp_only, "safety: {reject_private: true}\n"))
    eng.start(0)
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.1.0/24"]), 0)
    eng.flush(0)
    (p,) = eng.rib["10.10.1.0/24"].paths
    assert reject_code(p.verdict.accepted, p.verdict.trace) is Reject.PRIVATE
    assert reject_code(False, ("import default reject",)) is Reject.POLICY_DEFAULT
    assert reject_code(False, ("family ipv6 not configured for peer aws",)) is Reject.FAMILY_NOT_CONFIGURED
    assert reject_code(False, ("egress x has no IPv6 next-hop (next_hop6) for an IPv6 route",)) is (
        Reject.NO_IPV6_NEXT_HOP
    )
    assert reject_code(False, ("import: evaluation error (KeyError: x), rejected",), error=True) is Reject.POLICY_ERROR


def test_codes_are_stable() -> None:
    # the numbers are part of the interface (journal, explain --json, the wire): changing one breaks users
    assert {c.name: c.value for c in Wire} == {"EGRESS": 1, "RANK": 2, "STATEMENT": 3, "MULTIPATH": 4, "RELIEF": 5}
    assert trigger_code("update") is Trigger.UPDATE
    assert trigger_code("something else") is Trigger.OTHER
    assert tables()["reject"][11] == "too_specific"


def test_reasons_on_the_wire() -> None:
    eng = Engine(config(POLICY, "steering: {reason_communities: true}\n"))
    eng.start(0)
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.1.0/24"]), 0)
    effects = eng.handle(RoutesAnnounced(GCP, 4, A.evolve(next_hop=GCP, as_path=(16550,)), ["10.10.1.0/24"]), 0)
    effects += eng.flush(0)
    out = dict(eng.rib["10.10.1.0/24"].out)
    fra, ams = eng.egresses["fra"].path_id, eng.egresses["ams"].path_id
    assert set(out[fra].large_communities) == {(65000, 1, fra), (65000, 2, 1), (65000, 3, 2)}  # statement 2: aws
    assert set(out[ams].large_communities) == {(65000, 1, ams), (65000, 2, 2), (65000, 3, 3)}
    line = encode_one(Announce(4, fra, out[fra], ["10.10.1.0/24"]), "10.0.0.2")
    assert accepts(line), line
    changed = [e for e in effects if isinstance(e, Changed)]
    assert changed
    assert changed[-1].kind == "update"


def test_no_reasons_unless_asked() -> None:
    eng = Engine(config(POLICY))
    eng.start(0)
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.1.0/24"]), 0)
    eng.flush(0)
    assert all(not a.large_communities for _, a in eng.rib["10.10.1.0/24"].out)


def test_explain_carries_the_reject_code() -> None:
    eng = Engine(config(POLICY))
    eng.start(0)
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.66.1.0/24"]), 0)
    eng.flush(0)
    ex = CoreView(eng).explain("10.66.1.0/24")
    assert ex is not None
    assert ex["candidates"][0]["reject_code"] == Reject.POLICY_STATEMENT
