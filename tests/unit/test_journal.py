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


def test_drift_is_journalled_shown_in_history_and_left_out_of_replay(tmp_path: Path) -> None:
    from bgpsteer.core.drift import Drift
    from bgpsteer.noc.tables import history_text
    from bgpsteer.replay.report import verify
    from bgpsteer.replay.rerun import Outcome

    path = tmp_path / "journal.jsonl"
    j = journal.Journal(path, {1: "fra"})
    started = [Drift("10.10.0.0/16", "local-pref", "the core holds the path via fra with LOCAL_PREF 7, not 200")]
    j.drift(100.0, "core1", "cli", started, [])
    j.drift(130.0, "core1", "cli", [], [("10.10.0.0/16", "local-pref")])
    j.drift(131.0, "core1", "cli", [], [])  # nothing began or ended: nothing written
    j.close()
    recs = journal.history(path, "10.10.0.0/16")
    assert [(r["kind"], r["state"], r["drift"], r["source"]) for r in recs] == [
        ("drift", "started", "local-pref", "cli"),
        ("drift", "ended", "local-pref", "cli"),
    ]
    assert journal.history(path, "10.20.0.0/16") == []
    text = history_text({"records": recs, "journal": str(path)}, "10.10.0.0/16")
    assert "core1 (cli)" in text
    assert "DRIFT local-pref" in text
    assert "drift local-pref ended" in text
    assert verify(Outcome(first=0.0, last=1000.0), path) == (0, [])  # not decisions: a replay makes none of these
