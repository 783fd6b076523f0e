"""Large passes (a drain, a reload) are decided in slices between reads of ExaBGP's pipe, sized by what they cost,
and end exactly where one undivided pass would: against FakeExaBGP (ExaBGP's own parser, in-process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bgpsteer.config.loader import parse
from bgpsteer.runtime import serve
from bgpsteer.runtime.slicing import SLICE_MAX, SLICE_MIN, SLICE_TARGET
from lab.textedit import yaml_edited
from tests.fake.world import AWS, CONFIG, CORE, GCP
from tests.fake_exabgp import Clock, FakeExaBGP, state, update

PREFIXES = [f"44.{i >> 8}.{i & 0xFF}.0/24" for i in range(600)]


class Loop:
    """Plays serve's loop for the agent: a slice runs only when the loop gets to it, and each costs ``cost`` s
    on the agent's timer (so the slice size it adapts to is known)."""

    def __init__(self, fake: FakeExaBGP, cost_per_prefix: float) -> None:
        self.fake, self.agent = fake, fake.agent
        self.scheduled = 0
        self.sizes: list[int] = []
        self.now = 0.0
        self.cost = cost_per_prefix
        self.agent.chunk = 50
        self.agent.more = self._more
        self.agent.timer = self._timer
        decide = self.agent.engine.flush

        def counting(now: float, limit: int | None = None) -> list:  # type: ignore[type-arg]
            before = self.agent.engine.pending()
            effects = decide(now, limit)
            n = before - self.agent.engine.pending()
            if n:
                self.sizes.append(n)
            self.now += n * self.cost  # the slice "took" this long
            return effects

        self.agent.engine.flush = counting  # type: ignore[method-assign]

    def _timer(self) -> float:
        return self.now

    def _more(self) -> None:
        self.scheduled += 1

    def run(self, limit: int = 10_000) -> int:
        """Run scheduled slices until none is left; the number run."""
        ran = 0
        while self.scheduled and ran < limit:
            self.scheduled -= 1
            self.agent.flush()
            ran += 1
        return ran


def loaded(clock: Clock) -> FakeExaBGP:
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"), clock)
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP))
    fake.feed(update(AWS, PREFIXES), update(GCP, PREFIXES, asn=16550))
    assert fake.agent.engine.pending() == 0
    return fake


def drain_in_slices(fake: FakeExaBGP, loop: Loop | None, egress: str) -> None:
    agent = fake.agent
    agent.apply(agent.engine.drain(egress, True, agent.clock(), decide=False))
    agent.schedule()
    if loop is not None:
        assert agent.engine.pending() == len(PREFIXES)  # nothing decided inside the command's own callback
        loop.run()
    assert agent.engine.pending() == 0


def test_a_drain_in_slices_ends_where_one_pass_ends(clock: Clock) -> None:
    whole, sliced = loaded(clock), loaded(clock)
    drain_in_slices(whole, None, "fra")  # no loop: decided at once
    loop = Loop(sliced, cost_per_prefix=SLICE_TARGET / 100)  # 100 prefixes fill a slice's time
    drain_in_slices(sliced, loop, "fra")
    assert sliced.rib == whole.rib  # the same adj-RIB-out on the core
    assert len(loop.sizes) > 3
    assert max(loop.sizes) <= SLICE_MAX
    assert 80 <= loop.sizes[-2] <= 120  # the slice size settled near what fits in SLICE_TARGET
    assert sliced.agent.engine.stats.decision_id > whole.agent.engine.stats.decision_id  # one decision per slice


def test_slices_shrink_when_prefixes_get_expensive_and_never_below_the_minimum(clock: Clock) -> None:
    fake = loaded(clock)
    loop = Loop(fake, cost_per_prefix=SLICE_TARGET)  # one prefix fills a slice's time
    drain_in_slices(fake, loop, "fra")
    assert min(loop.sizes) == SLICE_MIN
    assert loop.sizes[-2] == SLICE_MIN


def test_a_reload_during_a_drain_pass_decides_the_rest_under_the_new_config(clock: Clock) -> None:
    fake = loaded(clock)
    loop = Loop(fake, cost_per_prefix=SLICE_TARGET / 100)
    agent = fake.agent
    agent.apply(agent.engine.drain("fra", True, agent.clock(), decide=False))
    agent.schedule()
    assert loop.scheduled == 1
    loop.run(limit=2)  # part of the drain is decided
    assert 0 < agent.engine.pending() < len(PREFIXES)
    strict = yaml_edited(CONFIG, lambda doc: doc["policy"]["export"].update(default="reject"))
    slices = len(loop.sizes)
    agent.apply_config(parse(strict, "fake.yaml"))
    assert (
        len(loop.sizes) == slices
    )  # nothing decided inside the reload's callback (finishing the drain would hold the loop)
    loop.run()
    assert agent.engine.pending() == 0
    assert not [
        k for k in fake.rib if k[0] == CORE and k[1] in PREFIXES
    ]  # every prefix, decided before or after, now under the new policy


def test_the_lag_watchdog_counts_a_held_loop() -> None:
    fake = FakeExaBGP(parse(CONFIG, "fake.yaml"))
    agent = fake.agent

    async def scenario(hold: Callable[[], None]) -> None:
        watch = asyncio.ensure_future(serve._watch_lag(agent))
        await asyncio.sleep(serve.LAG_PERIOD * 2)
        hold()  # a callback that holds the loop
        await asyncio.sleep(serve.LAG_PERIOD * 2)
        watch.cancel()

    asyncio.run(scenario(lambda: time.sleep(serve.LAG_STALL * 1.5)))
    assert agent.loop_stalls >= 1
    assert agent.loop_lag_max >= serve.LAG_STALL
