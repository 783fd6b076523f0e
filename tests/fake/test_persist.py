"""What a restarted helper must not forget: egress health, dampening, drain, decision ids; a torn journal."""

from __future__ import annotations

import json
from pathlib import Path

from bgpsteer.config.loader import parse
from bgpsteer.core.measure import Sample
from bgpsteer.runtime import journal, statefile
from bgpsteer.runtime.agent import Agent
from tests.fake.world import AWS, CORE, GCP, SIX
from tests.fake.world import PERSIST_CONFIG as CONFIG
from tests.fake_exabgp import Clock, FakeExaBGP, state, update

NH_FRA = ("10.255.0.1/32", 1)


def fra_rounds(agent: Agent, clock: Clock, good: bool) -> None:
    """Two probe rounds of egress fra, a second apart (its rise and fall are 2)."""
    for _ in range(2):
        clock.now += 1
        agent.on_probe("fra", [Sample("t", True, 5.0) if good else Sample("t", False, None, "timeout")])


def boot(fake: FakeExaBGP) -> None:
    fake.agent.open_journal()
    fake.agent.restore()
    fake.agent.start()


def test_an_egress_out_of_service_stays_out_across_a_helper_restart(tmp_path: Path) -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(CONFIG.format(state=tmp_path), "persist.yaml"), clock)
    boot(fake)
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX), update(GCP, SIX, asn=16550))
    fra_rounds(fake.agent, clock, good=False)  # fall 2: out of service
    assert NH_FRA not in fake.paths(CORE)
    fake.agent.apply(fake.agent.engine.drain("ams", True, clock.now))
    fake.agent.save_state()
    last_id = fake.agent.engine.stats.decision_id
    flaps = fake.agent.engine.steering.health["fra"].flaps

    mark = len(fake.lines)
    agent = fake.restart_helper()
    boot(fake)
    agent.tick()
    assert not [x for x in fake.lines[mark:] if "10.255.0.1/32" in x]  # no update for the dead egress at any time
    assert NH_FRA not in fake.paths(CORE)
    steering = agent.engine.steering
    assert steering.health["fra"].state == "down"
    assert steering.health["fra"].flaps == flaps
    assert steering.health["fra"].penalty > 0
    assert steering.drained == {"ams"}
    assert agent.engine.stats.decision_id >= last_id
    # its probes bring it back (rise, then the hold-down), as they would have without the restart
    fra_rounds(agent, clock, good=True)  # rise 2
    clock.now += 31
    agent.tick()
    assert NH_FRA in fake.paths(CORE)


def test_decision_ids_keep_increasing_across_restarts_and_a_torn_journal_line_is_cut(tmp_path: Path) -> None:
    clock = Clock()
    fake = FakeExaBGP(parse(CONFIG.format(state=tmp_path), "persist.yaml"), clock)
    boot(fake)
    fake.feed(state(CORE), state(AWS), update(AWS, SIX[:2]))
    first = [r["id"] for r in journal.read(tmp_path / "journal.jsonl")]
    assert first
    with open(tmp_path / "journal.jsonl", "ab") as fh:
        fh.write(b'{"t": 1, "id": 99')  # killed mid-record
    (tmp_path / statefile.NAME).unlink(missing_ok=True)  # even without the state file, the journal knows the last id
    fake.restart_helper()
    boot(fake)
    fake.feed(update(AWS, SIX[2:4]))
    records = list(journal.read(tmp_path / "journal.jsonl"))
    ids = [r["id"] for r in records]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(set(first)) + len(set(ids[len(first) :]))
    assert min(ids[len(first) :]) > max(first)
    assert (tmp_path / "journal.jsonl").read_bytes().endswith(b"\n")
    assert all(json.loads(x) for x in (tmp_path / "journal.jsonl").read_bytes().splitlines())


def test_a_corrupt_state_file_means_a_fresh_start_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / statefile.NAME).write_text(
        '{"steering": {"health": {"fra": {"state": "down", "since": "x"}}, "drained": 5}}'
    )
    fake = FakeExaBGP(parse(CONFIG.format(state=tmp_path), "persist.yaml"), Clock())
    boot(fake)
    assert fake.agent.engine.steering.health["fra"].state == "up"
    assert not fake.agent.engine.steering.drained
    (tmp_path / statefile.NAME).write_text("not json")
    fake.restart_helper()
    boot(fake)
    assert NH_FRA in fake.paths(CORE)


def test_state_dir_and_its_files_are_not_world_readable(tmp_path: Path) -> None:
    """state_dir created 0750 (the control group may reach the socket), the journal 0640, state files 0600."""
    state_dir = tmp_path / "new" / "state"
    fake = FakeExaBGP(parse(CONFIG.format(state=state_dir), "persist.yaml"), Clock())
    fake.agent.open_journal()
    fake.agent.start()
    fake.feed(state(CORE), state(AWS), update(AWS, SIX))
    fake.agent.save_state()
    fake.agent.dump()
    assert state_dir.stat().st_mode & 0o777 == 0o750
    assert (state_dir / "journal.jsonl").stat().st_mode & 0o777 == 0o640
    assert (state_dir / statefile.NAME).stat().st_mode & 0o777 == 0o600
    assert (state_dir / "state.json").stat().st_mode & 0o777 == 0o600


def test_restored_times_do_not_depend_on_the_monotonic_clock_which_restarts_at_a_reboot(tmp_path: Path) -> None:
    """Saved at clock 10^6 (days of uptime), restored at clock 100 (after a reboot): the egress still recovers
    after one hold-down, and its dampening penalty keeps decaying (an absolute time from the old clock would lie
    in the future: no hold-down would ever end)."""
    clock = Clock()
    clock.now = 1_000_000.0
    fake = FakeExaBGP(parse(CONFIG.format(state=tmp_path), "persist.yaml"), clock)
    boot(fake)
    fake.feed(state(CORE), state(AWS), state(GCP), update(AWS, SIX))
    fra_rounds(fake.agent, clock, good=False)  # fall 2: out of service
    fake.agent.save_state()
    penalty = fake.agent.engine.steering.health["fra"].current_penalty(clock.now)
    clock.now = 100.0  # a reboot: the monotonic clock starts again
    agent = fake.restart_helper()
    boot(fake)
    health = agent.engine.steering.health["fra"]
    assert health.state == "down"
    assert abs(health.current_penalty(clock.now) - penalty) < penalty * 0.01
    fra_rounds(agent, clock, good=True)  # rise 2
    clock.now += 31
    agent.tick()
    assert NH_FRA in fake.paths(CORE)
    clock.now += 600
    assert health.current_penalty(clock.now) < penalty / 100
