"""Reload, all or nothing: the file validated in a forked child (a large one must not stall the pipe), swapped in,
re-decided in slices, and the answer says what changed (a part of the running agent, runtime/agent.py)."""

from __future__ import annotations

import asyncio
import logging
import pickle
from typing import Any

from bgpsteer import forked
from bgpsteer.config.loader import ConfigError, load, load_text
from bgpsteer.core.attrs import Attrs
from bgpsteer.core.config import Config
from bgpsteer.core.events import Change
from bgpsteer.core.inputs import ConfigSwap
from bgpsteer.runtime.host import Host

log = logging.getLogger("bgpsteer")
TAP_LIMIT = 200  # changes listed in a reload's answer


class Reloading:
    async def reload(self: Host) -> dict[str, Any]:
        """The one reload path (SIGHUP and the control socket): load and validate off the event loop (a large file
        must not stall the pipe), swap all or nothing, re-decide in slices; the summary of what changed.
        Raises ConfigError (counted, logged; the running policy is kept)."""
        before = self.view.counters()
        try:
            await self.validate_forked()  # a huge or broken file is refused without holding the loop
            config, text = await asyncio.get_running_loop().run_in_executor(None, load_text, self.config_path)
        except ConfigError as exc:
            self.reload_failures += 1
            log.error("reload failed, running policy kept:\n%s", exc)
            raise
        old = self.engine.config.digest
        egress_of = config.egress_of
        changes: list[Change] = []
        self.taps.append(changes)
        try:
            self.apply_config(config, text)
            pending = await self.settled()
        finally:
            self.taps.remove(changes)
        brief = [
            {
                "prefix": p,
                "egress": egress_of.get(pid, "?"),
                "old": _brief(b) if b else None,
                "new": _brief(n) if n else None,
            }
            for p, pid, b, n in sorted(changes, key=lambda c: (c[0], c[1]))[:TAP_LIMIT]
        ]
        return {
            "old_digest": old,
            "new_digest": config.digest,
            "announced": self.view.counters().announcements - before.announcements,
            "withdrawn": self.view.counters().withdrawals - before.withdrawals,
            "changes": brief,
            "pending": pending,
        }

    async def validate_forked(self: Host) -> None:
        """Parse and check the config file in a forked child first: the YAML parser holds the interpreter for
        long stretches on a large file, which would leave ExaBGP's pipe unread.  Raises its ConfigError."""
        path = self.config_path

        def check() -> bytes:
            try:
                load(path)
            except ConfigError as exc:
                return pickle.dumps(exc.issues)
            return pickle.dumps(None)

        data = await (await forked.fork(check)).read()
        issues = pickle.loads(data) if data else None  # no answer (the child died): the load that follows reports it
        if issues:
            raise ConfigError(issues)

    def apply_config(self: Host, config: Config, text: str | None = None) -> None:
        """Swap in a validated config: decisions (in slices), probes, tunnel readers and journal follow it.  A pass
        still in progress is not finished first (that would hold the loop): its prefixes are re-imported and decided
        under the new config."""
        self.apply(self.feed(ConfigSwap(config, text), self.clock()))
        self.schedule()
        self.refresh_site_learning()  # a changed filter may take routes the core sent before
        if self.probes is not None:
            self.probes.start(config.egresses)
        if self.tunnels is not None:
            self.tunnels.start(config.egresses)
        if self.monitors is not None:
            self.monitors.start(config.core_routers)
        if self.utilization is not None:
            self.utilization.start(config.egresses)
        if self.flows is not None:
            self.flows.start(config.steering.relief.flows if config.steering.relief else None)
        if self.journal is not None:
            self.journal.egress_of = config.egress_of


def _brief(a: Attrs) -> str:
    d = a.describe()
    return f"lp {d['local_pref']} med {d['med']} comm {' '.join(d['communities']) or '-'}"
