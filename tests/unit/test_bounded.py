"""Memory is a function of the RIB and the configuration, not of the history of updates."""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path

import pytest

from bgpsteer.config.loader import load
from bgpsteer.core import attrs, decision, importer
from bgpsteer.core.bounded import BoundedCache
from bgpsteer.runtime.agent import Agent

ROOT = Path(__file__).resolve().parents[2]
PEERS = [("10.250.1.2", 64512), ("10.250.2.2", 16550)]


def test_bounded_cache_keeps_at_most_two_generations() -> None:
    c: BoundedCache[int, int] = BoundedCache(4)
    for i in range(100):
        c.put(i, i)
        assert len(c) <= c.bound == 8
    assert c.get(99) == 99
    assert c.get(0) is None
    assert c.rotations > 0


def test_a_hit_in_the_old_generation_survives_the_next_rotation() -> None:
    c: BoundedCache[int, int] = BoundedCache(2)
    c.put(1, 1)
    c.put(2, 2)
    c.put(3, 3)  # rotation: {1, 2} old
    assert c.get(1) == 1  # promoted to the young generation
    c.put(4, 4)  # rotation: {3, 1} old, {2} dropped
    assert c.get(1) == 1
    assert c.get(2) is None


def _update(peer: str, asn: int, seq: int, start: int) -> str:
    nlri = [{"nlri": f"44.{(i >> 8) & 0xFF}.{i & 0xFF}.0/24"} for i in range(start, start + 50)]
    attrs_ = {"origin": "igp", "as-path": {"0": {"element": "as-sequence", "value": [asn, 65100 + seq]}}, "med": seq}
    return json.dumps(
        {
            "exabgp": "5.0.0",
            "type": "update",
            "neighbor": {
                "address": {"local": "x", "peer": peer},
                "asn": {"local": 1, "peer": asn},
                "message": {"update": {"attribute": attrs_, "announce": {"ipv4 unicast": {peer: nlri}}}},
            },
        }
    )


def test_churn_keeps_every_cache_within_its_bound_and_memory_flat(monkeypatch: pytest.MonkeyPatch) -> None:
    # small bounds so that a short churn crosses each of them many times
    for module, name in (
        (attrs, "INTERN_SIZE"),
        (importer, "CACHE_SIZE"),
        (decision, "EXPORT_CACHE_SIZE"),
        (decision, "MEMO_SIZE"),
        (decision, "OUTS_SIZE"),
    ):
        monkeypatch.setattr(module, name, 64)
    monkeypatch.setattr(attrs.Interner.__init__, "__defaults__", (64,))
    cfg = load(ROOT / "lab/lab.yaml")
    sent: list[int] = [0]

    def out(b: bytes) -> None:
        sent[0] += 1

    agent = Agent(str(ROOT / "lab/lab.yaml"), cfg, out, clock=lambda: 0.0)
    for peer, asn in PEERS:
        agent.on_line(
            json.dumps(
                {
                    "exabgp": "5.0.0",
                    "type": "state",
                    "neighbor": {
                        "address": {"local": "x", "peer": peer},
                        "asn": {"local": 1, "peer": asn},
                        "state": "up",
                    },
                }
            )
        )
    seq = 0

    def churn(rounds: int) -> None:
        nonlocal seq
        for _ in range(rounds):
            for peer, asn in PEERS:
                seq += 1
                agent.on_line(
                    _update(peer, asn, seq, (seq * 50) % 900)
                )  # a steady RIB of 900 prefixes per peer (max-prefix 1000)
            agent.flush()
            while sent[0]:
                sent[0] -= 1
                agent.on_line("done")

    churn(400)  # warm-up: every cache fills
    gc.collect()
    tracemalloc.start()
    churn(400)
    gc.collect()
    first = tracemalloc.get_traced_memory()[0]
    churn(800)
    gc.collect()
    second = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    caches = agent.caches()
    assert set(caches) == {
        "attribute_sets",
        "import_verdicts",
        "import_next_hops",
        "import_rejections",
        "export_verdicts",
        "export_decisions",
        "export_outcomes",
    }
    for name, c in caches.items():
        assert len(c) <= c.bound, name
    for name in ("attribute_sets", "import_verdicts", "export_verdicts", "export_decisions", "export_outcomes"):
        assert caches[name].bound == 128, name
        assert caches[name].rotations > 0, name  # the churn did cross each bound
    assert len(agent.engine.rib) == 900
    # twice the churn after warm-up: memory still allocated must not have grown with it
    assert second <= first * 1.10 + 64 * 1024, (first, second)
