"""From a (re)start to a complete table: reconcile with what ExaBGP still holds from an earlier run, then End-of-RIB
to the core routers once every wanted path is announced and acknowledged (and to graceful cloud sessions once the
return path is sent again) (a part of the running agent,
runtime/agent.py; the rules are the core's, core/reconcile.py)."""

from __future__ import annotations

import logging

from bgpsteer.core import returnstate
from bgpsteer.core.events import Changed, Effect, Withdraw
from bgpsteer.core.model import FAMILY_AFI, CloudPeer, CoreRouter
from bgpsteer.core.providers import graceful_restart
from bgpsteer.core.reconcile import Held, Reconciler, peer_ready, stale_toward
from bgpsteer.core.sitelearn import learns_from
from bgpsteer.exabgp import codec
from bgpsteer.runtime import recorder
from bgpsteer.runtime.host import Host

log = logging.getLogger("bgpsteer")


class Startup:
    table_complete_after: float | None
    reconciler: Reconciler | None
    reconcile_waiting: frozenset[str] | None

    def core_session(self: Host, address: str, state: str) -> None:
        self.core_state[address] = state
        if state == "up" and self.converged:
            # a core session that (re)comes up once the table is complete: ExaBGP re-sends what it holds, then this
            self.send_eor(address)

    def refresh_site_learning(self: Host, address: str | None = None) -> None:
        """Ask the core routers the site's prefixes are learned from (or one of them) for their table again: after
        a helper restart (ExaBGP replays nothing) and a reload (the filter may take more now).  Their answer's end
        drops what was restored from the state file and is no longer there (core/sitelearn.py)."""
        config = self.engine.config
        for c in config.core_routers:
            if address not in (None, c.address) or not learns_from(config, c.address):
                continue
            if self.core_state.get(c.address) == "up":
                for fam in c.families:
                    self.send_barrier(codec.route_refresh(c.address, FAMILY_AFI[fam]))

    def cloud_session(self: Host, address: str, state: str) -> None:
        if state == "up" and self.reconciler is None:
            # a graceful cloud session that (re)comes up once the return path is out: ExaBGP re-sends it, then this
            self.send_eor(address)

    def send_eor(self: Host, address: str) -> None:
        """End-of-RIB per family (RFC 4724): with manual-eor, ExaBGP sends none, so a graceful-restart helper (the
        core, or a cloud whose provider documents it) keeps stale paths until it comes; sent to the core once every
        wanted path has been announced and acknowledged, to a cloud once the return path has been sent again."""
        if not self.engine.config.agent.graceful_restart:
            return  # ExaBGP sends its own End-of-RIB
        sessions: list[CloudPeer | CoreRouter] = [*self.engine.config.core_routers, *self.engine.config.cloud_peers]
        for peer in sessions:
            if peer.address == address and graceful_restart(peer):
                for fam in peer.families:
                    self.send_barrier(f"neighbor {address} announce eor {fam} unicast")
                if isinstance(peer, CoreRouter) and address not in self.eor_sent_to:
                    self.eor_sent_to.append(address)  # status: the core's End-of-RIB (cloud sessions: in the log)
                elif isinstance(peer, CloudPeer):
                    log.info("End-of-RIB to cloud session %s (%s): the return path is complete", peer.name, address)

    def check_converged(self: Host, now: float) -> None:
        """After start: once ExaBGP's dump is reconciled, every cloud peer is ready (End-of-RIB, quiet, down, or the
        timeout), everything is decided and ExaBGP has acknowledged it all, the table is complete: End-of-RIB."""
        if self.converged or self.reconciler is not None or self.engine.pending() or self.ledger.outstanding_routes:
            return
        timeout = self.engine.config.agent.ready_timeout
        if any(peer_ready(p, now, self.started_at, self.settle, timeout) is None for p in self.engine.progress()):
            return
        self.converged = True
        self.table_complete_after = now - self.started_at
        up = [c.address for c in self.engine.config.core_routers if self.core_state.get(c.address) == "up"]
        log.info(
            "initial table complete after %.1fs: %d paths announced%s",
            now - self.started_at,
            self.view.counters().announced_paths,
            "; End-of-RIB to " + ", ".join(up) if up and self.engine.config.agent.graceful_restart else "",
        )
        for address in up:
            self.send_eor(address)

    def reconcile(self: Host) -> None:
        """Withdraw what ExaBGP holds from an earlier run that nobody wants now, egress by egress as their
        cloud peers become ready (core/reconcile.py); judged again only when the ready set changes."""
        r = self.reconciler
        if r is None or not r.dump_done:
            return
        now = self.clock()
        progress = self.engine.progress()
        waiting = r.waiting_egresses(progress, now)
        if waiting == self.reconcile_waiting:
            return
        self.reconcile_waiting = waiting
        self.flush(force=True)  # wanted must be decided, whatever ExaBGP still owes
        wanted = {(prefix, pid) for prefix, pid, _ in self.engine.announced_routes()}
        egress_of = self.engine.config.egress_of
        before = r.withdrawn
        withdrawals = (
            r.step(
                now,
                progress,
                egress_of,
                wanted,
                {c.address for c in self.engine.config.core_routers},
                frozenset(p.address for p in self.engine.config.cloud_peers),
            )
            or {}
        )
        for neighbor, ws in withdrawals.items():
            for w in ws:
                self.send_effect(w, neighbor)
        gone = sorted({(p, w.path_id) for ws in withdrawals.values() for w in ws for p in w.prefixes})
        if gone:
            log.info(
                "reconcile: withdrawing %d stale route(s) held from before, e.g. %s",
                len(gone),
                ", ".join(f"{p} via {egress_of.get(pid, f'path id {pid}')}" for p, pid in gone[:5]),
            )
        if gone:
            decision = self.engine.next_decision()
            why = "reconcile after restart: held in ExaBGP from before, no longer wanted"
            if self.recorder is not None:  # the adapter's own decision: replay shows it as recorded
                self.recorder.record(recorder.ADAPTER, now, decision, why, gone)
            if self.journal is not None:
                self.journal.record(Changed(decision, now, why, [(p, pid, None, None) for p, pid in gone]))
        ready = ", ".join(f"{name}: {why}" for name, why in sorted(r.readiness(progress, now).items()) if why)
        log.info(
            "reconcile with ExaBGP: %d held routes judged so far, %d stale withdrawn now, %d waiting for egresses %s "
            "(ready: %s)",
            r.checked,
            r.withdrawn - before,
            len(r.held),
            ", ".join(sorted(waiting)) or "-",
            ready or "none",
        )
        if r.done:
            log.info(
                "reconciled with ExaBGP: %d routes held from before checked, %d stale withdrawn", r.checked, r.withdrawn
            )
            self.reconciler = None
            self.send_return_path(r.cloud_held)
            for address, info in self.engine.peers.items():
                if info.state == "up":
                    self.send_eor(address)  # to the graceful cloud sessions: their stale routes are now current

    def send_return_path(self: Host, held: list[Held]) -> None:
        """The return path in full, once every cloud's table is in (what was decided before is held back: with half
        the tables, the clouds would be told another preference and back).  What ExaBGP held from an earlier run
        and the plan does not want is withdrawn; the rest is announced again (the same attributes: no change at the
        cloud)."""
        plan = self.engine.return_plan
        wanted = {peer: {p: r.attrs for p, r in routes.items()} for peer, routes in plan.routes.items()}
        effects: list[Effect] = []
        for ws in stale_toward(held, wanted).values():
            effects += ws
        for peer, routes in wanted.items():
            effects += returnstate.diff(peer, {}, routes)
        if effects:
            log.info(
                "return path: the site announced to %d cloud session(s); %d stale route(s) held from before withdrawn",
                len(wanted),
                sum(len(w.prefixes) for w in effects if isinstance(w, Withdraw)),
            )
        self.apply(effects)
