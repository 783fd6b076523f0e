"""The decision journal rotates without losing order, keeps at most ``keep`` old files, and frees the oldest one."""

from __future__ import annotations

import time
from pathlib import Path

from bgpsteer.core.events import EgressChanged
from bgpsteer.runtime import journal


def test_rotation_keeps_keep_files_in_order_and_drops_the_oldest(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = journal.Journal(path, {}, max_bytes=2000, keep=3)
    for i in range(1, 201):
        j.record(EgressChanged(i, float(i), "fra", "up", "down", False, f"record {i}"))
    j.close()
    for _ in range(100):  # the oldest file is freed on a thread: bounded wait (1 s)
        if not list(tmp_path.glob("*.deleting")):
            break
        time.sleep(0.01)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["journal.jsonl", "journal.jsonl.1", "journal.jsonl.2", "journal.jsonl.3"]
    ids = [r["id"] for r in journal.read(path, keep=3)]
    assert ids == sorted(ids)
    assert ids[-1] == 200
    assert len(ids) == len(set(ids))
    assert ids[0] > 1
    assert ids == list(range(ids[0], 201))  # and none lost in between
    assert journal.last_decision(path, keep=3) == 200
