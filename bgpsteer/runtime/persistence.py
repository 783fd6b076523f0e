"""What the agent keeps on disk: the decision journal, the flight recorder, the egress state across restarts, and
the SIGUSR1 state dump (a part of the running agent, runtime/agent.py)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from bgpsteer import forked
from bgpsteer.core.inputs import Restore
from bgpsteer.runtime import journal, recorder, statefile
from bgpsteer.runtime.host import Host
from bgpsteer.runtime.journal import Journal
from bgpsteer.runtime.recorder import Recorder

log = logging.getLogger("bgpsteer")


class Persistence:
    journal: Journal | None
    recorder: Recorder | None

    @property
    def journal_path(self: Host) -> Path:
        return Path(self.engine.config.agent.state_dir) / "journal.jsonl"

    @property
    def state_path(self: Host) -> Path:
        return Path(self.engine.config.agent.state_dir) / statefile.NAME

    def open_journal(self: Host) -> None:
        cfg = self.engine.config
        self.journal = Journal(self.journal_path, cfg.egress_of, cfg.agent.journal_max_bytes)
        if self.journal.repaired:
            log.warning(
                "journal %s: cut a last line torn by a kill (%d bytes)", self.journal_path, self.journal.repaired
            )

    def open_recorder(self: Host, text: str) -> None:
        """Start the flight recorder (agent.record_max_bytes; 0: off) with the config the engine started with."""
        cfg = self.engine.config
        if cfg.agent.record_max_bytes <= 0:
            return
        self.recorder = Recorder(Path(cfg.agent.state_dir) / recorder.DIR, cfg.agent.record_max_bytes)
        self.recorder.config(self.clock(), text, cfg.digest, cfg.source, begin=True)

    def restore(self: Host) -> None:
        """Before start: what an earlier run knew (egress health, dampening, drain, decision ids)."""
        data = statefile.load(self.state_path)
        last = journal.last_decision(self.journal_path) if self.journal is not None else 0
        saved = data.get("decision_id")
        data["decision_id"] = max(last, saved if isinstance(saved, int) else 0)
        # ages were saved against the monotonic clock of that moment; the wall clock says how long ago that was
        wall = data.get("saved_wall")
        away = max(0.0, time.time() - wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else 0.0
        saved_at = self.clock() - away
        self.apply(self.feed(Restore(data, saved_at), self.clock()))

    def save_state(self: Host) -> None:
        statefile.save(self.state_path, {**self.engine.persist(self.clock()), "saved_wall": time.time()})

    async def dump_forked(self: Host) -> None:
        """SIGUSR1: write the state dump from a forked copy-on-write snapshot; the pipe is never left unread."""

        def work() -> bytes:
            try:
                self.dump()
            except Exception:
                log.exception("state dump failed")
                return b""
            return b"ok"

        if await (await forked.fork(work)).read() != b"ok":
            log.error("state dump failed: no state.json written")

    def dump(self: Host) -> Path:
        if self.noc is None:
            raise RuntimeError("no NOC side to render the state dump (the composition root passes one)")
        target = Path(self.engine.config.agent.state_dir) / "state.json"
        statefile.ensure_dir(target.parent)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the whole state, config included: root only
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(self.noc.state_dump(self), indent=1, default=str))
        os.replace(tmp, target)
        log.info("state written to %s", target)
        return target
