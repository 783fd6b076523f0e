"""Work on a forked copy-on-write snapshot of the agent, so ExaBGP's pipe is never left unread.

The child computes and encodes its answer and writes it to a pipe; the parent reads that pipe
without blocking the event loop and either copies it to a client chunk by chunk (a full
'show routes' at 1M prefixes is hundreds of MB) or reads it whole when it is small.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable

CHUNK = 1 << 16
CHILD_NICE = 5  # below the agent, not starved: an operator's listing still finishes on a loaded machine


class Forked:
    def __init__(self, pid: int, reader: asyncio.StreamReader, transport: asyncio.BaseTransport) -> None:
        self.pid = pid
        self.reader = reader
        self.transport = transport

    async def copy_to(self, writer: asyncio.StreamWriter) -> None:
        """Stream the child's answer to a client, one chunk at a time (never all of it in memory at once)."""
        try:
            while chunk := await self.reader.read(CHUNK):
                writer.write(chunk)
                await writer.drain()
        finally:
            await self.close()

    async def read(self) -> bytes:
        try:
            return await self.reader.read()
        finally:
            await self.close()

    async def close(self) -> None:
        self.transport.close()
        await asyncio.get_running_loop().run_in_executor(None, os.waitpid, self.pid, 0)


async def fork(work: Callable[[], bytes]) -> Forked:
    """Run work() in a forked child; its bytes come back through a pipe."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, send, leave without running any parent cleanup
        os.close(rfd)
        # background work: it must not take CPU from the agent serving ExaBGP (measured: a 50 MB config parsed
        # at normal priority left the pipe unread up to 160 ms on two cores), nor copy the agent's memory by
        # walking the inherited objects in its collections
        os.nice(CHILD_NICE)
        gc.freeze()
        code = 0
        try:
            data = work()
            with os.fdopen(wfd, "wb") as out:
                out.write(data)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(wfd)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 30)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(rfd, "rb"))
    return Forked(pid, reader, transport)
