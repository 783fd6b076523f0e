"""A helper that starts again compares the core's table with its intent only once that intent is whole: before,
every path the core keeps from the previous run would look unannounced (8 false alarms measured in the lab)."""

from __future__ import annotations

import asyncio

from bgpsteer.config.loader import parse
from bgpsteer.core.drift import CorePath
from bgpsteer.runtime.monitoring import STARTING
from tests.fake.world import AWS, CONFIG, CORE, GCP, SIX
from tests.fake_exabgp import Clock, FakeExaBGP, eor, state, update

MONITORED = CONFIG.replace(
    "{name: core1, address: 10.250.0.2, asn: 65000}",
    "{name: core1, address: 10.250.0.2, asn: 65000, monitor: {cli: frr, command: ['true'], window: 2}}",
)
# what the core holds from the previous run: both paths of every prefix, ams's best (the cheaper egress)
TABLE = {p: [CorePath("10.255.0.1", None, False, True), CorePath("10.255.0.2", None, True, True)] for p in SIX}


def test_a_reading_before_the_table_is_whole_is_unknown_and_after_it_is_compared() -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(MONITORED, "fake.yaml"), clock)
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX, asn=16550))
    fake.agent.tick()
    agent = fake.restart_helper()
    agent.start()
    for _ in range(3):  # longer than the window: nothing of the old table may turn into drift meanwhile
        clock.now += 2.0
        agent.tick()
        asyncio.run(agent.on_core_table("core1", "cli", TABLE, ""))
        s = agent.drift_state["core1", "cli"]
        assert (s.error, s.drift, s.pending) == (STARTING, [], 0)
    fake.feed(update(AWS, SIX), eor(AWS), update(GCP, SIX[1:], asn=16550), eor(GCP))  # gcp lost SIX[0]
    agent.tick()
    assert agent.table_complete_after is not None
    asyncio.run(agent.on_core_table("core1", "cli", TABLE, ""))
    s = agent.drift_state["core1", "cli"]
    assert (s.error, s.drift, s.pending) == ("", [], 2)  # the core still uses SIX[0] via ams: within the window
    clock.now += 2.5
    asyncio.run(agent.on_core_table("core1", "cli", TABLE, ""))
    assert sorted((d.prefix, d.kind) for d in agent.drift_state["core1", "cli"].drift) == [
        (SIX[0], "other-egress"),
        (SIX[0], "stale"),
    ]
