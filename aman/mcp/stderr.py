"""StderrPipe: a stdio MCP server's stderr, logged line by line under the server's name.

The SDK hands the server a file for its stderr; this gives it the write end of a pipe and reads
the other end in the event loop, so every line lands in aman's log (``aman.mcp.server``) tagged
with the server's name, and the last few are kept to explain a failure.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from types import TracebackType
from typing import Any, TextIO

log = logging.getLogger("aman.mcp.server")

#: Longest stderr line logged as is; longer ones are cut (a server dumping a blob stays readable).
_MAX_LINE = 2000
#: How long the reader may still drain after the server is gone.
_DRAIN_SEC = 1.0


class StderrPipe:
    """Async context: ``writer`` is given to the server; lines are logged until it exits."""

    def __init__(self, server: str, tail: collections.deque[str]) -> None:
        self._server = server
        self._tail = tail
        self.writer: TextIO = None  # type: ignore[assignment]  # set on enter
        self._transport: asyncio.ReadTransport | None = None
        self._task: asyncio.Task[None] | None = None
        #: The server's pid (and process group), found by the pipe its stderr writes to.
        self.pid: int | None = None

    async def __aenter__(self) -> StderrPipe:
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w")
        reader = asyncio.StreamReader(limit=1 << 20)
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
        except BaseException:
            self.writer.close()
            os.close(read_fd)
            raise
        self._task = loop.create_task(self._pump(reader), name=f"mcp:{self._server}:stderr")
        return self

    def spawned(self) -> None:
        """The server holds its own copy of the write end now: ours must close for EOF."""
        if self.pid is None and not self.writer.closed:
            self.pid = _child_writing_to(os.fstat(self.writer.fileno()).st_ino)
        with contextlib.suppress(OSError):
            self.writer.close()

    def kill_group(self) -> None:
        """SIGKILL the server's process group (the SDK starts it as a session leader)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.spawned()
        task = self._task
        if task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), _DRAIN_SEC)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                raw = await reader.read(_MAX_LINE)
            if not raw:
                return
            self._line(raw)

    def _line(self, raw: Any) -> None:
        text = bytes(raw).decode(errors="replace").rstrip()
        if not text:
            return
        if len(text) > _MAX_LINE:
            text = text[:_MAX_LINE] + "…"
        self._tail.append(text)
        log.info("mcp server %s: %s", self._server, text)


def _child_writing_to(inode: int) -> int | None:
    """The pid of our child whose stderr is the pipe ``inode`` (Linux /proc; None elsewhere)."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            if parent == me and os.stat(f"/proc/{name}/fd/2").st_ino == inode:
                return int(name)
        except (OSError, ValueError, IndexError):
            continue
    return None
