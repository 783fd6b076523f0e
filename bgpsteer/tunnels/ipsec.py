"""Reading strongSwan's IKE_SAs and CHILD_SAs over VICI (PyPI ``vici``, strongSwan's own client): ``list-sas`` at
start, after each reconnect, at every ``ike-updown``/``child-updown``/``ike-rekey``/``child-rekey`` event and every
``interval``.  The client is blocking, so one thread per VICI socket does the reading and hands each reading to the
event loop; a missing socket or a restarting charon makes the tunnels unreadable (never down) until it is back.

What a reading means is the core's (core/tunnel.py); ``facts`` here only picks the SA out of VICI's answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import vici

from bgpsteer.core.model import Tunnel
from bgpsteer.core.tunnel import TunnelFacts

log = logging.getLogger("bgpsteer.tunnels")
EVENTS = ["ike-updown", "child-updown", "ike-rekey", "child-rekey"]
RETRY = 1.0  # seconds before a lost VICI socket is tried again
CONNECT_TIMEOUT = 2.0


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _number(value: Any) -> float | None:
    try:
        return float(_text(value))
    except ValueError:
        return None


IKE_ALIVE = ("ESTABLISHED", "REKEYING", "REKEYED")  # a rekeying IKE_SA still protects; its successor takes over
CHILD_ALIVE = ("INSTALLED", "REKEYING", "REKEYED")  # make-before-break: the old CHILD_SA is installed until deleted


def facts(egress: str, t: Tunnel, sas: Iterable[Mapping[str, Any]]) -> TunnelFacts:
    """The tunnel's IKE_SAs (by connection name: two during an IKE rekey) and their CHILD_SA in ``list-sas``'s
    answer, as a reading: up while any of them holds an installed CHILD_SA, the newest one's times counting."""
    ikes = [sa for entry in sas for name, sa in entry.items() if name == t.ike]
    if not ikes:
        return TunnelFacts(egress, True, False, detail="no IKE_SA")
    alive = [sa for sa in ikes if _text(sa.get("state", b"")) in IKE_ALIVE]
    if not alive:
        return TunnelFacts(egress, True, False, detail=f"IKE_SA {_text(ikes[0].get('state', b''))}")
    children = [
        (sa, c)
        for sa in alive
        for c in (sa.get("child-sas") or {}).values()
        if (t.child is None or _text(c.get("name", b"")) == t.child) and _text(c.get("state", b"")) in CHILD_ALIVE
    ]
    if not children:
        state = _text(alive[0].get("state", b""))
        return TunnelFacts(egress, True, False, detail=f"IKE_SA {state}, no CHILD_SA {t.child or ''} installed")
    # a rekey overlaps the old SA with the new one: the most recently installed counts
    ike, newest = min(children, key=lambda sc: _number(sc[1].get("install-time", b"0")) or 0.0)
    return TunnelFacts(
        egress,
        True,
        True,
        handshake_stamp=_number(newest.get("uniqueid", b"")),
        handshake_age=_number(newest.get("install-time", b"")),
        detail=(
            f"IKE_SA {_text(ike.get('state', b''))}, "
            f"CHILD_SA {_text(newest.get('name', b''))} {_text(newest.get('state', b''))}"
        ),
        expires_in=_number(newest.get("life-time", b"")),
    )


def _session(path: str) -> vici.Session:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(CONNECT_TIMEOUT)
    try:
        s.connect(path)
    except OSError:
        s.close()
        raise
    s.settimeout(None)
    return vici.Session(s)


class IpsecWatcher:
    """The tunnels (egress -> Tunnel) behind one VICI socket, read in a thread of its own."""

    def __init__(
        self, path: str, tunnels: Mapping[str, Tunnel], report: Callable[[TunnelFacts], None], interval: float
    ) -> None:
        self.path = path
        self.tunnels = dict(tunnels)
        self.report = report
        self.interval = interval
        self.loop = asyncio.get_running_loop()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"vici {path}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()

    def _hand(self, f: TunnelFacts) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closing: nothing is listening any more
            self.loop.call_soon_threadsafe(self.report, f)

    def _read(self, cmd: vici.Session) -> None:
        sas = list(cmd.list_sas())
        for egress, t in self.tunnels.items():
            self._hand(facts(egress, t, sas))

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                cmd, events = _session(self.path), _session(self.path)
                stream = events.listen(EVENTS, timeout=self.interval)
                try:
                    self._read(cmd)
                    last = time.monotonic()
                    for kind, _ in stream:
                        if self.stop.is_set():
                            break
                        if kind is not None or time.monotonic() - last >= self.interval:
                            self._read(cmd)
                            last = time.monotonic()
                finally:
                    with contextlib.suppress(Exception):  # it unregisters its events: charon may be gone
                        stream.close()
                    for s in (cmd, events):
                        with contextlib.suppress(Exception):
                            s.transport.socket.close()
            except Exception as exc:  # a missing socket, charon restarting, a malformed answer: unreadable
                for egress in self.tunnels:
                    self._hand(TunnelFacts(egress, False, detail=f"VICI {self.path}: {exc or type(exc).__name__}"))
                self.stop.wait(RETRY)
