"""Fixtures of the FakeExaBGP tier."""

from __future__ import annotations

import pytest

from tests.fake_exabgp import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
