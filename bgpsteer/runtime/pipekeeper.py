"""Keep ExaBGP's pipe to this helper open after the helper dies, so a crash cannot stop ExaBGP's peers for good.

Found with the real daemons under load: when the helper is killed while a cloud peer is sending, ExaBGP 5.0.15 may
write the next UPDATE to the dead helper's stdin before it reads EOF on its stdout.  The write fails with EPIPE,
ExaBGP marks the process broken and never clears the mark: it logs "ExaBGP lost the helper process for this peer
- stopping" and stops every peer (cloud gateways and core routers) until ExaBGP itself restarts, although it does
respawn the helper.  Without load it reads the EOF first and only respawns.

So at start the helper starts a keeper: a small process holding only the read end of stdin (not stdout: ExaBGP
must see EOF there when the helper dies).  It sleeps until the helper is gone, then reads and discards what ExaBGP
still writes until ExaBGP closes the pipe (or ``DRAIN_SECONDS``), and exits.  ExaBGP's writes then never fail; it
sees the death on stdout and respawns the helper as it should.  The keeper never reads while the helper lives, so
it takes nothing from it.  It is exec'd afresh (``KEEPER``): it holds none of the helper's memory, and its command
line is not the helper's.
"""

from __future__ import annotations

import os
import sys

DRAIN_SECONDS = 120  # after the helper's death: ExaBGP respawns within a second; then the old pipe is closed
NAME = "bgpsteer-pipe-keeper"

KEEPER = """
import os, select, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
try:
    pidfd = os.pidfd_open(int(sys.argv[1]))
except OSError:
    os._exit(0)  # the helper is gone already
select.select([pidfd], [], [])
deadline = time.monotonic() + float(sys.argv[2])
while (left := deadline - time.monotonic()) > 0:
    if select.select([0], [], [], left)[0] and not os.read(0, 65536):
        break
os._exit(0)
"""


def start() -> int | None:
    """Start the keeper for this process's stdin; its pid, or None where it cannot run (not Linux)."""
    if not hasattr(os, "pidfd_open"):
        return None
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: only stdin stays open; stderr goes to /dev/null (ExaBGP's log is the helper's)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.closerange(3, 1024)
        os.execv(sys.executable, [sys.executable, "-S", "-c", KEEPER, str(parent), str(DRAIN_SECONDS), NAME])
    finally:
        os._exit(1)  # exec failed: the helper runs without a keeper
