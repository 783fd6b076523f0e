"""The dirty set: first in first out, each prefix once, whatever the hash seed."""

from __future__ import annotations

from bgpsteer.core.dirty import Dirty


def test_oldest_first_each_prefix_once() -> None:
    d = Dirty()
    d.update(["b", "a", "c", "a"])
    d.add("b")
    assert len(d) == 3
    assert "a" in d
    assert d.take(2) == ["b", "a"]
    assert "a" not in d
    d.add("a")  # dirty again after its decision: queued behind the rest
    assert list(d) == ["c", "a"]
    assert d.take(5) == ["c", "a"]
    assert len(d) == 0
    d.update(["x", "y"])
    assert d.take() == ["x", "y"]
    assert d.take() == []
