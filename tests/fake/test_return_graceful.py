"""Graceful restart towards a cloud whose provider documents it (Google Cloud Router): bgpsteer advertises it and
sends End-of-RIB itself, after the return path is sent in full, so the gateway keeps our site routes while ExaBGP
restarts and drops the stale ones only when the new table is complete.  Providers that do not document it (AWS)
get neither."""

from __future__ import annotations

from bgpsteer.config.loader import parse
from bgpsteer.core.reconcile import SETTLE
from bgpsteer.exabgp.render import render
from lab.textedit import yaml_edited
from tests.fake.world import AWS, CONFIG, CORE, GCP, SIX
from tests.fake_exabgp import Clock, FakeExaBGP, eor, state, update

SITE = yaml_edited(CONFIG, lambda d: d.update(site={"prefixes": ["10.100.0.0/16"]}))


def eor_to(fake: FakeExaBGP, peer: str) -> list[int]:
    return [i for i, x in enumerate(fake.lines) if x == f"neighbor {peer} announce eor ipv4 unicast"]


def site_to(fake: FakeExaBGP, peer: str) -> list[int]:
    return [i for i, x in enumerate(fake.lines) if x.startswith(f"neighbor {peer} announce") and "10.100.0.0/16" in x]


def test_the_capability_is_rendered_only_where_the_provider_documents_it() -> None:
    text = render(parse(SITE, "t.yaml"), "t.yaml")
    blocks = {b.split("{", 1)[0].split()[-1]: b for b in text.split("neighbor ")[1:]}
    assert "graceful-restart 120;" in blocks[GCP]
    assert "manual-eor true;" in blocks[GCP]
    assert "graceful-restart" not in blocks[AWS]
    assert "manual-eor" not in blocks[AWS]
    assert "graceful-restart 120;" in blocks[CORE]


def test_end_of_rib_follows_the_return_path_and_a_flap_gets_it_again() -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(SITE, "fake.yaml"), clock)
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), eor(AWS), update(GCP, SIX, asn=16550), eor(GCP))
    clock.now += 1
    fake.agent.tick()
    (at,) = eor_to(fake, GCP)
    assert site_to(fake, GCP)
    assert max(site_to(fake, GCP)) < at
    assert not eor_to(fake, AWS)  # AWS documents no graceful restart: ExaBGP's own End-of-RIB, not ours
    fake.feed(state(GCP, up=False), state(GCP))  # the session flaps: ExaBGP re-sends what it holds, then ours
    assert len(eor_to(fake, GCP)) == 2


def test_a_restarted_helper_sends_end_of_rib_only_once_the_return_path_is_out_again() -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(SITE, "fake.yaml"), clock)
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), eor(AWS), update(GCP, SIX, asn=16550), eor(GCP))
    fake.agent.tick()
    agent = fake.restart_helper()
    mark = len(fake.lines)
    agent.start()
    fake.feed(update(AWS, SIX), update(GCP, SIX[:3], asn=16550))
    clock.now += 1
    agent.tick()
    assert agent.reconciler is not None  # gcp is still sending its table: the return path is held back
    assert [i for i in eor_to(fake, GCP) if i > mark] == []
    fake.feed(update(GCP, SIX[3:], asn=16550))
    clock.now += SETTLE + 0.1
    agent.tick()
    assert agent.reconciler is None
    (at,) = [i for i in eor_to(fake, GCP) if i > mark]
    assert max(site_to(fake, GCP)) < at
