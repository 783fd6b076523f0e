"""Site prefixes learned from the core across a helper restart (FakeExaBGP keeps its adj-RIB-out and replays
nothing): the new helper reads them back from its state file, never withdraws them from a cloud meanwhile, asks
the core for its table again, and withdraws only what the core's complete answer no longer holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bgpsteer.config.loader import parse
from bgpsteer.core.reconcile import SETTLE
from lab.textedit import yaml_edited
from tests.fake.world import AWS, CORE, GCP, SIX
from tests.fake.world import PERSIST_CONFIG as CONFIG
from tests.fake_exabgp import Clock, FakeExaBGP, eor, refresh_marker, state, update, withdraw

LEARNED = ["10.200.1.0/24", "10.200.2.0/24"]


def learning(d: dict[str, Any]) -> None:
    d["sets"] = {"prefix": {"site-nets": ["10.200.0.0/16 le 24"]}}
    d["site"] = {"prefixes": ["10.100.0.0/16"], "learn": {"prefix": "site-nets"}}


def to_clouds(fake: FakeExaBGP, since: int, verb: str, prefix: str) -> list[str]:
    return [x for x in fake.lines[since:] if x.startswith(f"neighbor {AWS} {verb}") and prefix in x]


def boot(fake: FakeExaBGP) -> None:
    fake.agent.restore()
    fake.agent.start()


def test_a_restarted_helper_keeps_the_learned_site_and_drops_only_what_the_core_no_longer_has(tmp_path: Path) -> None:
    clock = Clock()
    text = yaml_edited(CONFIG.format(state=tmp_path), learning)
    fake = FakeExaBGP(parse(text, "learn.yaml"), clock)
    boot(fake)
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX, asn=16550))
    fake.feed(update(CORE, LEARNED, asn=65000))
    clock.now += SETTLE + 0.1
    fake.agent.tick()
    assert all(to_clouds(fake, 0, "announce", p) for p in LEARNED)

    agent = fake.restart_helper()
    mark = len(fake.lines)
    boot(fake)
    assert any(x == f"neighbor {CORE} announce route-refresh ipv4 unicast" for x in fake.lines[mark:])
    fake.feed(update(AWS, SIX), eor(AWS), update(GCP, SIX, asn=16550), eor(GCP))
    for _ in range(3):
        clock.now += SETTLE
        agent.tick()
    assert agent.reconciler is None
    assert not [x for p in LEARNED for x in to_clouds(fake, mark, "withdraw", p)]  # restored: held at the clouds
    # the core answers the refresh with one of the two: the other is gone from the core, and from the clouds
    fake.feed(refresh_marker(CORE, False), update(CORE, LEARNED[:1], asn=65000), refresh_marker(CORE, True))
    assert to_clouds(fake, mark, "withdraw", LEARNED[1])
    assert not to_clouds(fake, mark, "withdraw", LEARNED[0])
    fake.feed(withdraw(CORE, LEARNED[:1]))
    assert to_clouds(fake, mark, "withdraw", LEARNED[0])
