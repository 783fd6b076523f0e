"""Rules whose mutation must make a test fail: compliance intersection, statement order, configured safety."""

from __future__ import annotations

import pytest

from bgpsteer.config.loader import parse
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.engine import Engine
from bgpsteer.core.events import Announce, Effect, RoutesAnnounced
from bgpsteer.core.reconcile import DOWN_GRACE, READY_TIMEOUT, SETTLE, PeerProgress, peer_ready
from tests.unit.helpers import ACCEPT_ALL, config

AWS, GCP = "10.1.0.2", "10.2.0.2"
A = Attrs(next_hop="10.1.0.2", as_path=(64512,))


def announced(effects: list[Effect]) -> dict[tuple[str, int], Attrs]:
    return {(p, e.path_id): e.attrs for e in effects if isinstance(e, Announce) for p in e.prefixes}


def test_overlapping_compliance_rules_allow_only_what_every_rule_allows() -> None:
    eng = Engine(
        parse(
            """
agent: {local_asn: 65000, router_id: 10.0.0.1}
egresses:
  - {id: fra, region: eu-central, jurisdiction: EU, cost_per_gb: 0.02, next_hop: 10.255.0.1}
  - {id: zrh, region: ch, jurisdiction: CH, cost_per_gb: 0.01, next_hop: 10.255.0.2}
cloud_peers:
  - {name: aws, address: 10.1.0.2, asn: 64512, egress: fra, provider: aws, region: eu-central-1}
  - {name: gcp, address: 10.2.0.2, asn: 16550, egress: zrh, provider: gcp, region: europe-west6}
core_routers:
  - {name: core1, address: 10.0.0.2, asn: 65000}
sets:
  prefix:
    wide: ["10.10.0.0/16 le 24"]
    narrow: ["10.10.1.0/24"]
compliance:
  - {name: eu-or-ch, prefixes: wide, jurisdictions: [EU, CH]}
  - {name: ch-only, prefixes: narrow, jurisdictions: [CH]}
policy:
  import: {default: accept}
  export: {default: accept}
""",
            "test.yaml",
        )
    )
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.1.0/24", "10.10.2.0/24"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, A.evolve(next_hop=GCP), ["10.10.1.0/24", "10.10.2.0/24"]), 0)
    out = announced(eng.flush(0))
    assert ("10.10.1.0/24", 1) not in out
    assert ("10.10.1.0/24", 2) in out
    assert {("10.10.2.0/24", 1), ("10.10.2.0/24", 2)} <= set(out)


def test_a_later_statement_overrides_an_earlier_local_pref() -> None:
    eng = Engine(
        config("""
policy:
  import:
    default: accept
    statements:
      - {name: first, set: {local_pref: 150}}
      - {name: second, match: {provider: aws}, set: {local_pref: 210}, then: accept}
  export: {default: accept}
""")
    )
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.1.0/24"]), 0)
    eng.handle(RoutesAnnounced(GCP, 4, A.evolve(next_hop=GCP), ["10.10.1.0/24"]), 0)
    out = announced(eng.flush(0))
    assert out[("10.10.1.0/24", 1)].local_pref == 210
    lp = out[("10.10.1.0/24", 2)].local_pref
    assert lp is not None
    assert 150 <= lp < 210  # 'first' only (plus at most the cost tie-break): 'second' did not apply to gcp


def test_configured_max_length_is_applied() -> None:
    eng = Engine(config(ACCEPT_ALL, "safety: {max_length: {ipv4: 22}}\n"))
    eng.handle(RoutesAnnounced(AWS, 4, A, ["10.10.0.0/22", "10.10.4.0/23"]), 0)
    out = announced(eng.flush(0))
    assert set(out) == {("10.10.0.0/22", 1)}
    (reason,) = [t[-1] for p, _, t in eng.rejected()]
    assert "/23 is longer than /22" in reason


def _peer(**kw: object) -> PeerProgress:
    base: dict[str, object] = {
        "egress": "fra",
        "families": frozenset({4}),
        "state": "up",
        "state_known": True,
        "eor": frozenset(),
        "last_heard": 10.0,
        "relearn_from": 5.0,
        "name": "aws",
    }
    base.update(kw)
    return PeerProgress(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "now", "ready"),
    [
        (_peer(), 10.0 + SETTLE, f"quiet for {SETTLE:g}s after its routes"),
        (_peer(), 10.0 + SETTLE - 0.1, None),
        (_peer(relearn_from=11.0), 30.0, None),  # what it sent before the refresh went out is not its table
        (_peer(refreshing=frozenset({4})), 10.0 + 3 * SETTLE, None),  # inside a BoRR .. EoRR bracket: wait for EoRR
        (_peer(refreshed=frozenset({4})), 10.0, "End-of-Route-Refresh"),
        (_peer(eor=frozenset({4}), refreshing=frozenset({4})), 10.0, "End-of-RIB"),
        (_peer(state="down", refreshing=frozenset({4})), 10.0, "session down"),  # it went down: nothing to wait for
        (_peer(state="connected", relearn_from=None, last_heard=None), 1.0, None),  # not up yet at start: connecting
        (_peer(state="connected", relearn_from=None, last_heard=None), DOWN_GRACE, "session connected"),  # bounded
        (_peer(refreshing=frozenset({4})), READY_TIMEOUT, f"{READY_TIMEOUT:g}s since start"),
        (_peer(families=frozenset({4, 6}), refreshed=frozenset({4})), 10.0, None),  # one family still to come
    ],
)
def test_when_a_cloud_peers_table_counts_as_complete(peer: PeerProgress, now: float, ready: str | None) -> None:
    assert peer_ready(peer, now, started=0.0) == ready
