"""The flight recorder and replay (runtime/recorder.py, replay/): a run re-made from its recording makes exactly the
decisions its journal holds; another policy on the same inputs; rotation within the bound; broken recordings."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bgpsteer.cli import main
from bgpsteer.config.loader import parse
from bgpsteer.core.measure import Sample
from bgpsteer.replay import recording, report
from bgpsteer.replay.rerun import rerun
from bgpsteer.runtime import recorder
from bgpsteer.runtime.recorder import Recorder
from lab.textedit import named, yaml_edited
from tests.fake.world import AWS, CORE, GCP, SIX
from tests.fake.world import PERSIST_CONFIG as CONFIG
from tests.fake_exabgp import Clock, FakeExaBGP, state, update, withdraw


def slower_health(doc: dict[str, Any]) -> None:
    """Every egress fails after 4 bad rounds instead of 2."""
    for egress in doc["egresses"]:
        egress["health"]["fall"] = 4


def incident(tmp_path: Path, config: str | None = None) -> tuple[FakeExaBGP, Clock, Path]:
    """A run with everything the recorder keeps: a table, a failing egress (probe rounds, ticks, its hold-down),
    a drain, a reload, pushed measurements, a withdrawal, a peer going down."""
    text = (config or CONFIG).format(state=tmp_path)
    clock = Clock()
    fake = FakeExaBGP(parse(text, "replay.yaml"), clock)
    agent = fake.agent
    agent.open_journal()
    agent.open_recorder(text)
    agent.restore()
    agent.start()
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX, asn=16550))
    for good in (True, True, False, False, False, True, True):
        clock.now += 1
        agent.on_probe("ams", [Sample("t", good, 5.0 if good else None, "" if good else "timeout")])
        agent.on_probe("fra", [Sample("t", True, 9.0)])
        agent.tick()
    clock.now += 31  # ams's hold-down
    agent.tick()
    asyncio.run(agent.drain("ams", True))
    new = yaml_edited(text, lambda doc: named(doc["egresses"], "ams").update(cost_per_gb=0.05))
    agent.apply_config(parse(new, "replay.yaml"), new)
    agent.flush(force=True)
    clock.now += 1
    agent.measure("fra", [Sample("t", False, None, "pushed: down")])
    fake.feed(withdraw(AWS, SIX[:2]), state(GCP, up=False))
    clock.now += 1
    agent.tick()
    assert agent.recorder is not None
    agent.recorder.close()
    assert agent.journal is not None
    agent.journal.close()
    return fake, clock, tmp_path


def test_replay_reproduces_every_decision_of_the_journal_exactly(tmp_path: Path) -> None:
    incident(tmp_path)
    run = recording.find(tmp_path / recorder.DIR)
    out = rerun(run, recording.records(run))
    compared, problems = report.verify(out, tmp_path / "journal.jsonl")
    assert problems == []
    kinds = {r["kind"] for r in out.rows}
    assert kinds == {"route", "egress"}
    assert compared == len(out.rows) > 20
    assert len(out.configs) == 2  # the start and the reload
    moves = [(m.old, m.new) for m in out.moves if m.prefix == SIX[3]]
    # ams (cheaper) first; it fails (fra), returns after its hold-down, is drained (fra), its peer goes down
    assert moves == [(None, "ams"), ("ams", "fra"), ("fra", "ams"), ("ams", "fra")]
    assert "2 bad probe rounds" in next(m.reason for m in out.moves if m.prefix == SIX[3] and m.new == "fra")


def test_verify_notices_a_journal_that_the_recording_does_not_explain(tmp_path: Path) -> None:
    incident(tmp_path)
    path = tmp_path / "journal.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[5]["egress"] = "elsewhere"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = recording.find(tmp_path / recorder.DIR)
    _, problems = report.verify(rerun(run, recording.records(run)), path)
    assert len(problems) == 1
    assert "record 6" in problems[0]
    assert "elsewhere" in problems[0]


def test_another_policy_on_the_same_inputs_says_which_prefixes_would_have_moved_and_when(tmp_path: Path) -> None:
    incident(tmp_path)
    run = recording.find(tmp_path / recorder.DIR)
    recorded = rerun(run, recording.records(run))
    # a policy with a slower fall: ams's three failed rounds are not enough to take it out of service (fall 4)
    slow = parse(yaml_edited(CONFIG.format(state=tmp_path), slower_health), "new.yaml")
    other = rerun(run, recording.records(run), slow)
    diffs = report.differences(recorded.moves, other.moves)
    prefixes = {d["prefix"] for d in diffs}
    assert prefixes == set(SIX)  # every prefix stays on ams where the recorded policy moved it to fra and back
    d = next(d for d in diffs if d["prefix"] == SIX[3])
    assert d["before"] == "ams"
    assert [e for _, e in d["recorded"]] == ["fra", "ams", "fra"]
    assert [e for _, e in d["new"]] == ["fra"]  # only the drain moves it
    assert any("reload" in s for s in other.skipped)  # the recorded reload is not applied over the new policy


def test_the_cli_replays_verifies_and_lists(tmp_path: Path) -> None:
    incident(tmp_path)
    rec_dir = str(tmp_path / recorder.DIR)
    r = CliRunner().invoke(main, ["replay", rec_dir, "--verify", str(tmp_path / "journal.jsonl")])
    assert r.exit_code == 0, r.output
    assert "every decision reproduced exactly" in r.output
    assert "44.0.3.0/24: ams -> fra" in r.output
    r = CliRunner().invoke(main, ["replay", rec_dir, "--json", "--from", "+3", "--until", "+5"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["decisions"]
    assert all(doc["first"] + 3 <= d["t"] <= doc["first"] + 5 for d in doc["decisions"])
    r = CliRunner().invoke(main, ["replay", rec_dir, "--list"])
    assert r.exit_code == 0
    assert "1 segment(s)" in r.output
    r = CliRunner().invoke(main, ["replay", str(tmp_path / "nothing")])
    assert r.exit_code == 2


def test_segments_rotate_compress_and_stay_within_the_bound(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, max_bytes=64 * 1024, segment_bytes=4096)
    line = json.dumps(update(AWS, SIX))
    for i in range(2000):
        rec.line(1000.0 + i, line)
    rec.close()
    files = sorted(tmp_path.glob("*.rec*"))
    assert sum(p.stat().st_size for p in files) <= 64 * 1024
    assert all(p.name.endswith(".rec.gz") for p in files[:-1])  # closed segments are compressed
    assert gzip.decompress(files[0].read_bytes()).startswith(b"L\t")
    run = recording.find(tmp_path)
    assert not run.complete  # its start went with the oldest segments
    with pytest.raises(recording.RecordingError, match="first segment was removed by the size bound"):
        list(recording.records(run))


def test_a_torn_last_record_ends_the_run_and_garbage_is_an_error(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, max_bytes=1 << 20)
    rec.config(1.0, "x: 1\n", "deadbeef", "a.yaml", begin=True)
    rec.record(recorder.TICK, 2.0)
    rec.close()
    seg = next(tmp_path.glob("*.rec"))
    with open(seg, "ab") as fh:
        fh.write(b"T\t3.0\t[")  # killed mid-record
    run = recording.find(tmp_path)
    assert [r.kind for r in recording.records(run)] == [recorder.BEGIN, recorder.TICK]
    with open(seg, "ab") as fh:
        fh.write(b"\nQ\t4.0\t[]\nT\t5.0\t[]\n")
    with pytest.raises(recording.RecordingError, match="not a flight recorder record"):
        list(recording.records(run))


def test_time_arguments() -> None:
    assert report.parse_time("+5", 100.0) == 105.0
    assert report.parse_time("1700000000.5", 0) == 1700000000.5
    assert report.parse_time("2026-12-02T07:00:00Z", 0) == report.parse_time("2026-12-02T07:00:00+00:00", 0)
    with pytest.raises(ValueError, match="Invalid isoformat"):
        report.parse_time("yesterday", 0)
