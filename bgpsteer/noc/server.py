"""The control socket: a unix socket (mode 0660, optional group) the CLI talks to.

One JSON request per line, ``{"cmd": NAME, "args": {...}}``; one JSON answer per
line, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": TEXT, "code": N}``.
Requests run on the agent's event loop between ExaBGP lines; the one that can
take long (simulate, which may re-decide the whole RIB under a new config)
runs in a forked child working on a copy-on-write snapshot, so the ExaBGP
pipe is never left unread.
"""

from __future__ import annotations

import asyncio
import grp
import inspect
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bgpsteer import forked
from bgpsteer.config.loader import ConfigError, parse
from bgpsteer.core.measure import Sample
from bgpsteer.core.prefix import parse_prefix
from bgpsteer.core.view import UnknownName
from bgpsteer.exitcodes import ExitCode
from bgpsteer.forked import Forked
from bgpsteer.noc import protocol, queries
from bgpsteer.noc.port import AgentPort

log = logging.getLogger("bgpsteer.noc")
REQUEST_LIMIT = 16 * 1024 * 1024  # one request line; simulate carries a whole candidate config
MAX_CLIENTS = 32  # connections at once; more are refused with code 3 (file descriptors are finite)
IDLE_TIMEOUT = 60.0  # seconds a connection may wait between requests before it is closed
REFUSE_WAIT = 2.0  # seconds a refused connection is given to send its request, so it reads why it was refused


def _request(line: bytes) -> tuple[str, dict[str, Any]] | str:
    """(command, arguments) of a request line, checked; or why it is not one (a usage error)."""
    try:
        req = json.loads(line)
        cmd, args = req["cmd"], req.get("args") or {}
        if not isinstance(cmd, str) or not isinstance(args, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return 'bad request: expected {"cmd": NAME, "args": {...}}'
    problem = protocol.check(cmd, args)  # anything else is a usage error (code 2), never a traceback
    return problem if problem is not None else (cmd, protocol.with_defaults(cmd, args))


# commands answered from a forked snapshot, when this says so for their arguments
FORKED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "simulate": lambda a: True,
    "routes": lambda a: a.get("target") is None,
}


class ControlServer:
    def __init__(self, agent: AgentPort, path: str, group: str | None = None) -> None:
        self.agent = agent
        self.path = Path(path)
        self.group = group
        self.server: asyncio.AbstractServer | None = None
        self.clients = 0
        self.refused = 0
        self.refusing = 0  # refused connections still being told why (bounded too: each holds a descriptor)
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "status": lambda a: queries.status(self.agent),
            "routes": lambda a: queries.routes(
                self.agent.view,
                a.get("target"),
                a.get("egress"),
                a.get("peer"),
                int(a["limit"]),
                a.get("cls"),
                ledger=self.agent.ledger,
                drift=self.agent.core_drift(),
                only_drift=bool(a.get("drift")),
            ),
            "egress": lambda a: queries.egresses(self.agent.view, self.agent.clock(), a.get("egress")),
            "peers": lambda a: queries.peers(self.agent),
            "explain": lambda a: queries.explain(
                self.agent.view, str(a["target"]), a.get("cls"), self.agent.ledger, self.agent.core_drift()
            ),
            "drain": lambda a: self._drain(str(a["egress"]), True),
            "undrain": lambda a: self._drain(str(a["egress"]), False),
            "reload": lambda a: self._reload(),
            "verify": lambda a: queries.verify(self.agent),
            "measure": lambda a: self._measure(str(a["egress"]), a.get("samples") or []),
            "load": lambda a: self._load(a.get("utilization") or {}, a.get("volumes") or {}),
            "simulate": self._simulate,
            "history": lambda a: self._history(str(a["prefix"]), int(a["limit"])),
        }

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self.server = await asyncio.start_unix_server(self._client, str(self.path), limit=REQUEST_LIMIT)
        os.chmod(self.path, 0o600)  # root-only until the group is known to exist
        try:
            gid = grp.getgrnam(self.group).gr_gid if self.group else -1
        except KeyError:
            log.error(
                "control_group %r does not exist: the control socket %s stays root-only (mode 0600)",
                self.group,
                self.path,
            )
            return
        os.chown(self.path, -1, gid)
        os.chmod(self.path, 0o660)
        if gid != -1 and self.path.parent.stat().st_gid != gid and self.path.parent.stat().st_uid == os.geteuid():
            os.chown(self.path.parent, -1, gid)  # the group must be able to reach the socket in its 0750 directory
        log.info("control socket %s (mode 0660%s)", self.path, f", group {self.group}" if self.group else "")

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.path.unlink(missing_ok=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.clients >= MAX_CLIENTS:
            self.refused += 1
            if self.refusing >= MAX_CLIENTS:  # a flood: no more descriptors held for explanations
                writer.close()
                return
            self.refusing += 1
            try:
                # read the request first: closing before the client has written makes its write fail
                # (EPIPE) and the refusal is never seen
                await asyncio.wait_for(reader.readline(), REFUSE_WAIT)
                writer.write(
                    json.dumps(
                        {
                            "ok": False,
                            "error": f"too many control connections (at most {MAX_CLIENTS}); try again",
                            "code": ExitCode.UNREACHABLE,
                        }
                    ).encode()
                    + b"\n"
                )
                await writer.drain()
            except (TimeoutError, ConnectionError, ValueError):
                pass
            finally:
                self.refusing -= 1
                writer.close()
            return
        self.clients += 1
        try:
            while line := await asyncio.wait_for(reader.readline(), IDLE_TIMEOUT):
                answer = await self._answer(line)
                if isinstance(answer, Forked):
                    await answer.copy_to(writer)
                    continue
                writer.write(json.dumps(answer, default=str).encode() + b"\n")
                await writer.drain()
        except (TimeoutError, ConnectionError, ValueError):
            pass  # a client that went away, sent an oversized line, or stayed idle too long
        finally:
            self.clients -= 1
            writer.close()

    async def _answer(self, line: bytes) -> dict[str, Any] | Forked:
        request = _request(line)
        if isinstance(request, str):
            return {"ok": False, "error": request, "code": ExitCode.USAGE}
        cmd, args = request
        try:
            return await self._run(cmd, args)
        except queries.QueryError as exc:
            return {"ok": False, "error": str(exc), "code": exc.code}
        except KeyError as exc:
            return {"ok": False, "error": f"missing or unknown: {exc.args[0]}", "code": ExitCode.USAGE}
        except Exception as exc:
            log.exception("control request %s failed", cmd)
            return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}", "code": ExitCode.INTERNAL}

    async def _run(self, cmd: str, args: dict[str, Any]) -> dict[str, Any] | Forked:
        if cmd in FORKED and FORKED[cmd](args):
            # a what-if or a scan of the whole RIB: from a forked snapshot, so the pipe is never left unread
            return await self._forked(lambda: self.handlers[cmd](args))
        result = self.handlers[cmd](args)
        if inspect.isawaitable(result):
            result = await result
        return {"ok": True, "result": result}

    async def _history(self, prefix: str, limit: int) -> dict[str, Any]:
        """The journal's records for a prefix: the file is read off the loop."""
        records = await asyncio.get_running_loop().run_in_executor(None, self.agent.history, prefix, limit)
        return {"prefix": prefix, "records": records, "journal": str(self.agent.journal_path)}

    async def _drain(self, egress: str, on: bool) -> dict[str, Any]:
        queries.require_egress(self.agent.view, egress)
        return await self.agent.drain(egress, on)

    def _measure(self, egress: str, raw: list[dict[str, Any]]) -> dict[str, Any]:
        """External measurements pushed by a monitoring tool: one probe round for one egress."""
        e = queries.require_egress(self.agent.view, egress)
        if e.probe is None or e.probe.kind != "external":
            raise queries.QueryError(f"egress {egress} is not configured with probe type external", ExitCode.USAGE)
        samples = []
        for s in raw:
            target = str(s.get("target", ""))
            if target not in e.probe.targets:
                raise queries.QueryError(
                    f"unknown target {target!r} for egress {egress}; targets: {', '.join(e.probe.targets)}",
                    ExitCode.USAGE,
                )
            rtt = s.get("rtt_ms")
            if not s.get("ok"):
                samples.append(Sample(target, False, None, str(s.get("reason") or "reported lost")))
                continue
            if not isinstance(rtt, (int, float)) or not 0 <= rtt < protocol.RTT_MAX_MS:
                raise queries.QueryError(
                    f"target {target}: a good sample needs rtt_ms (0 .. 600000), got {rtt!r}", ExitCode.USAGE
                )
            samples.append(Sample(target, True, float(rtt)))
        if not samples:
            raise queries.QueryError("no samples", ExitCode.USAGE)
        self.agent.measure(egress, samples)
        after = self.agent.view.egress(egress, self.agent.clock())
        return {"egress": egress, "samples": len(samples), "health": after.health, "in_service": after.in_service}

    def _load(self, utilization: dict[str, float], volumes: dict[str, float]) -> dict[str, Any]:
        """Utilization per egress and volume per prefix, pushed by a flow collector or a counter poller."""
        view = self.agent.view
        if view.config.steering.relief is None:
            raise queries.QueryError("steering.relief is not configured: load reports are not used", ExitCode.USAGE)
        for egress in utilization:
            queries.require_egress(view, egress)
        counted = sorted(e.id for e in view.config.egresses if e.utilization is not None and e.id in utilization)
        if counted:  # two sources for one number would take turns: the counters are the network's own word
            raise queries.QueryError(
                f"{', '.join(counted)}: utilization is read from interface counters (egresses[].utilization); "
                "pushed numbers for it are refused (volumes may still be pushed)",
                ExitCode.USAGE,
            )
        relief = view.config.steering.relief
        if volumes and relief is not None and relief.flows is not None:
            raise queries.QueryError(
                "volumes are read from flow export (steering.relief.flows); pushed volumes are refused", ExitCode.USAGE
            )
        for prefix in volumes:
            try:
                parse_prefix(prefix)
            except ValueError:
                raise queries.QueryError(f"not a prefix: {prefix!r}", ExitCode.USAGE) from None
        self.agent.report_load({k: float(v) for k, v in utilization.items()}, {k: float(v) for k, v in volumes.items()})
        return {"load": queries.load(view, self.agent.clock())}

    async def _reload(self) -> dict[str, Any]:
        try:
            return await self.agent.reload()
        except ConfigError as exc:
            raise queries.QueryError(
                "reload refused, the running configuration is kept:\n" + str(exc), ExitCode.REFUSED
            ) from None

    def _simulate(self, args: dict[str, Any]) -> dict[str, Any]:
        config = None
        if args.get("config_text") is not None:
            # the CLI sends the file's content: the agent (root) never opens a path a client names
            try:
                config = parse(args["config_text"], args.get("config") or "<candidate config>")
            except ConfigError as exc:
                raise queries.QueryError("the new configuration has errors:\n" + str(exc), ExitCode.USAGE) from None
        elif args.get("config"):
            raise queries.QueryError(
                "simulate takes the candidate config's content (config_text), not a path", ExitCode.USAGE
            )
        fail = set(args.get("fail") or [])
        degrade = {str(e): {str(k): float(v) for k, v in m.items()} for e, m in (args.get("degrade") or {}).items()}
        if config is None:  # with a new config, its own egresses count (simulate checks them)
            for egress in sorted(fail | set(degrade)):
                queries.require_egress(self.agent.view, egress)
        load = {str(k): float(v) for k, v in (args.get("load") or {}).items()}
        for egress in load:
            queries.require_egress(self.agent.view, egress)
        try:
            return self.agent.view.simulate(fail, self.agent.clock(), config, degrade, load)
        except UnknownName as exc:
            raise queries.QueryError(
                f"{exc.args[0]} in {config.source if config else 'the config'}", ExitCode.USAGE
            ) from None

    async def _forked(self, work: Callable[[], Any]) -> Forked:
        """Run work() in a forked child (a copy-on-write snapshot of the state), which also encodes the whole answer:
        the agent only streams bytes to the client, so the pipe is never left unread."""

        def answer() -> bytes:
            try:
                result: dict[str, Any] = {"ok": True, "result": work()}
            except queries.QueryError as exc:
                result = {"ok": False, "error": str(exc), "code": exc.code}
            except Exception as exc:
                result = {
                    "ok": False,
                    "error": f"internal error: {type(exc).__name__}: {exc}",
                    "code": ExitCode.INTERNAL,
                }
            return json.dumps(result, default=str).encode() + b"\n"

        return await forked.fork(answer)
