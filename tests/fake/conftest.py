"""Fixtures of the FakeExaBGP tier."""

from __future__ import annotations

import pytest

from bgpsteer.config.loader import parse
from tests.fake.world import AWS, CONFIG, CORE, GCP
from tests.fake_exabgp import Clock, FakeExaBGP, state


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeExaBGP:
    f = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock)
    f.agent.start()
    f.feed(state(CORE), state(AWS), state(GCP))
    return f
