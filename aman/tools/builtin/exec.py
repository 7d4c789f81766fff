"""The ``exec`` tool: run a command in its own process group, capped, timed and killable.

Every command starts a new session (``start_new_session``), so its process group holds the
command and everything it spawns. On timeout, on cancellation of the calling task (a stop) and
when the command's leader exits while children linger, the whole group gets SIGTERM, then SIGKILL
after a grace period: no orphan outlives the call. A ``detach: true`` call returns a handle at
once; its output is streamed as ``tool:progress`` events and its end as ``tool:completed``, and
``DetachedProcesses`` keeps those processes so the runtime can kill them all at stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aman.ids import uuid7
from aman.tools.builtin.processes import KILL_GRACE_SEC, feed, kill_group, leader_exit, spawn
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput, cap

log = logging.getLogger(__name__)

#: Detached processes allowed at once, so a looping agent cannot fill the machine.
MAX_DETACHED = 8
#: Seconds between progress events of a detached process (coalesced: a few events a second).
PROGRESS_INTERVAL_SEC = 0.5
_READ_CHUNK = 65_536

Emit = Callable[[str, dict[str, Any]], None]


class ExecParams(BaseModel):
    """Parameters of ``exec``: exactly one of ``command`` (a shell string) or ``argv``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    command: str | None = Field(None, min_length=1, description="Run with /bin/sh -c.")
    argv: list[str] | None = Field(None, min_length=1, description="Program and arguments.")
    cwd: str | None = Field(None, description="Working folder inside the workspace roots.")
    timeout_sec: float | None = Field(
        None, gt=0, description="Seconds before the process group is killed; at most the "
        "configured tools.exec_timeout_sec, which is the default.")
    detach: bool = Field(False, description="Return {handle, pid} at once and stream output.")
    stdin: str | None = Field(None, description="Text written to the command's standard input.")

    @model_validator(mode="after")
    def _one_command(self) -> ExecParams:
        if (self.command is None) == (self.argv is None):
            raise ValueError("give exactly one of 'command' (a shell string) or 'argv' (a list)")
        return self


@dataclass
class _Capture:
    """The first ``limit`` bytes of a stream and how many it sent in all."""

    limit: int
    data: bytearray = field(default_factory=bytearray)
    total: int = 0

    async def drain(self, stream: asyncio.StreamReader | None) -> None:
        while stream is not None and (chunk := await stream.read(_READ_CHUNK)):
            self.total += len(chunk)
            room = self.limit - len(self.data)
            if room > 0:
                self.data += chunk[:room]

    def text(self) -> tuple[str, bool]:
        if self.total <= self.limit:
            return cap(bytes(self.data).decode(errors="replace"), self.limit)
        kept = bytes(self.data).decode(errors="ignore")
        return (f"{kept}\n[output truncated: {self.total} bytes, showing the first "
                f"{self.limit}]", True)


# ---------------------------------------------------------------------------------------------
# Attached runs
# ---------------------------------------------------------------------------------------------


def _timeout(params: ExecParams, ctx: ToolContext) -> float:
    return min(params.timeout_sec or ctx.exec_timeout_sec, ctx.exec_timeout_sec)


async def _run(params: ExecParams, ctx: ToolContext) -> ToolOutput:
    timeout = _timeout(params, ctx)
    started = time.monotonic()
    proc = await spawn(params, ctx)
    out, err = _Capture(ctx.max_output_bytes), _Capture(ctx.max_output_bytes)
    io = asyncio.gather(out.drain(proc.stdout), err.drain(proc.stderr), feed(proc, params.stdin))
    timed_out = False
    try:
        try:
            await asyncio.wait_for(leader_exit(proc), timeout)
        except TimeoutError:
            timed_out = True
        # The leader is gone (or too slow): whatever it left in its group goes too, which also
        # closes the pipes a background child would otherwise hold open.
        await kill_group(proc)
        # Only a process that left the group (setsid) can still hold a pipe: do not wait on it.
        await asyncio.wait([io], timeout=KILL_GRACE_SEC)
    finally:
        if proc.returncode is None or not io.done():  # cancelled (a stop): kill, then re-raise
            io.cancel()
            await kill_group(proc)
    stdout, cut_out = out.text()
    stderr, cut_err = err.text()
    return ToolOutput({"exit_code": proc.returncode, "stdout": stdout, "stderr": stderr,
                       "timed_out": timed_out,
                       "duration_ms": round((time.monotonic() - started) * 1000, 1)},
                      truncated=cut_out or cut_err)


# ---------------------------------------------------------------------------------------------
# Detached runs
# ---------------------------------------------------------------------------------------------


@dataclass
class _Detached:
    handle: str
    proc: asyncio.subprocess.Process
    call_id: str
    session_id: str | None
    task: asyncio.Task[None] | None = None
    stopped: bool = False
    #: The reading end of the process's terminal (its standard output).
    terminal: asyncio.ReadTransport | None = None

    def close_terminal(self) -> None:
        """Stop reading the process's output and close the terminal."""
        if self.terminal is not None:
            self.terminal.close()


class DetachedProcesses:
    """The detached ``exec`` processes still running; ``stop_all`` kills every group."""

    def __init__(self, max_running: int = MAX_DETACHED,
                 progress_interval: float = PROGRESS_INTERVAL_SEC) -> None:
        self.max_running = max_running
        self.progress_interval = progress_interval
        self._running: dict[str, _Detached] = {}

    def __len__(self) -> int:
        return len(self._running)

    def running(self) -> list[dict[str, Any]]:
        """Handles, pids and owning calls of the processes still running."""
        return [{"handle": d.handle, "pid": d.proc.pid, "call_id": d.call_id,
                 "session_id": d.session_id} for d in self._running.values()]

    async def start(self, params: ExecParams, ctx: ToolContext) -> ToolOutput:
        """Spawn the command and a task streaming its output; ``{handle, pid}`` at once."""
        if len(self._running) >= self.max_running:
            raise ToolFailedError(
                f"{len(self._running)} detached processes are already running "
                f"(at most {self.max_running}); wait for one to finish")
        # Its standard output is a terminal: C stdio, Python and most programs write a line as
        # soon as it is printed there, where into a pipe they keep it until a buffer fills.
        master, slave = _open_terminal()
        try:
            proc = await spawn(params, ctx, stdout=slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        handle = f"exec-{uuid7()}"
        entry = _Detached(handle, proc, ctx.call_id, ctx.session_id)
        stream = _Progress(entry, ctx, self.progress_interval)
        loop = asyncio.get_running_loop()
        reader = _TerminalReader(lambda chunk: stream.add("stdout", chunk), loop)
        try:
            entry.terminal, _ = await loop.connect_read_pipe(
                lambda: reader, os.fdopen(master, "rb", buffering=0))
        except BaseException:
            os.close(master)
            await kill_group(proc)
            raise
        self._running[handle] = entry
        entry.task = loop.create_task(self._follow(entry, params, ctx, stream, reader),
                                      name=f"exec:{handle}")
        entry.task.add_done_callback(_log_failure)
        return ToolOutput({"handle": handle, "pid": proc.pid}, detached=True)

    async def stop(self, handle: str) -> bool:
        """Kill one detached process group; False when ``handle`` is not running."""
        entry = self._running.get(handle)
        if entry is None or entry.task is None:
            return False
        entry.stopped = True
        entry.task.cancel()
        await asyncio.gather(entry.task, return_exceptions=True)
        if entry.proc.returncode is None:  # cancelled before it ever ran: no finally did this
            await kill_group(entry.proc)
        entry.close_terminal()
        self._running.pop(handle, None)
        return True

    async def stop_all(self) -> None:
        """Kill every detached process group and wait for their tasks (called at stop)."""
        await asyncio.gather(*(self.stop(h) for h in list(self._running)))

    async def _follow(self, entry: _Detached, params: ExecParams, ctx: ToolContext,
                      stream: _Progress, reader: _TerminalReader) -> None:
        proc, started = entry.proc, time.monotonic()
        timeout = params.timeout_sec  # detached: only an explicit limit; stop_all ends the rest
        io = asyncio.gather(reader.closed, stream.drain("stderr", proc.stderr),
                            feed(proc, params.stdin))
        ticker = asyncio.get_running_loop().create_task(stream.tick())
        timed_out = False
        try:
            try:
                await asyncio.wait_for(leader_exit(proc), timeout)
            except TimeoutError:
                timed_out = True
            await kill_group(proc)
            await asyncio.wait([io], timeout=KILL_GRACE_SEC)
        except asyncio.CancelledError:
            entry.stopped = True
            io.cancel()
            await kill_group(proc)
        finally:
            io.cancel()
            ticker.cancel()
            entry.close_terminal()
            self._running.pop(entry.handle, None)
        stream.flush()
        _emit(ctx.emit, "tool:completed", {
            "handle": entry.handle, "call_id": entry.call_id, "session_id": entry.session_id,
            "tool": "exec", "agent_id": ctx.agent_id, "status": "success",
            "pid": proc.pid, "exit_code": proc.returncode, "timed_out": timed_out,
            "stopped": entry.stopped,
            "duration_ms": round((time.monotonic() - started) * 1000, 1)})


class _Progress:
    """Buffers a detached process's output and emits it as coalesced ``tool:progress`` events."""

    def __init__(self, entry: _Detached, ctx: ToolContext, interval: float) -> None:
        self._entry, self._ctx, self._interval = entry, ctx, interval
        self._pending: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    async def drain(self, name: str, stream: asyncio.StreamReader | None) -> None:
        while stream is not None and (chunk := await stream.read(_READ_CHUNK)):
            self.add(name, chunk)

    def add(self, name: str, chunk: bytes) -> None:
        """Keep ``chunk`` of stream ``name`` for the next event."""
        buffer = self._pending[name]
        room = self._ctx.max_output_bytes - len(buffer)
        buffer += chunk[:max(room, 0)]  # between two ticks, at most one capped event's worth

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.flush()

    def flush(self) -> None:
        for name, buffer in self._pending.items():
            if not buffer:
                continue
            # Keep a split multi-byte character for the next event rather than mangle it.
            text = bytes(buffer).decode(errors="ignore")
            kept = len(text.encode())
            rest = bytes(buffer[kept:]) if len(buffer) - kept < 4 else b""
            buffer.clear()
            buffer += rest
            if text:
                _emit(self._ctx.emit, "tool:progress", {
                    "handle": self._entry.handle, "call_id": self._entry.call_id,
                    "session_id": self._entry.session_id, "stream": name, "text": text})


def _open_terminal() -> tuple[int, int]:
    """A pseudo-terminal ``(master, slave)`` passing output through as written (no CR added)."""
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


class _TerminalReader(asyncio.Protocol):
    """Hands each chunk read from a terminal's master side on; ``closed`` resolves at its end.

    When the last writer closes, reading the master fails with EIO: that is the end of the
    output, not an error.
    """

    def __init__(self, on_data: Callable[[bytes], None], loop: asyncio.AbstractEventLoop) -> None:
        self._on_data = on_data
        self.closed: asyncio.Future[None] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        self._on_data(data)

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("detached exec %s failed", task.get_name(), exc_info=task.exception())


def _emit(emit: Emit, type_: str, payload: dict[str, Any]) -> None:
    try:
        emit(type_, payload)
    except Exception:  # a broken listener must not kill the process follower
        log.exception("emitting %s for %s failed", type_, payload.get("handle"))


# ---------------------------------------------------------------------------------------------
# The tool
# ---------------------------------------------------------------------------------------------


def _guard(params: ExecParams, ctx: ToolContext) -> Any:
    # The home and the would-be cwd let the check judge `rm -rf /root` and `rm -rf ..` too; it
    # must not raise, so the cwd is only joined here (the handler confines it).
    cwd = None
    if ctx.roots:
        cwd = os.path.join(ctx.workspace, os.path.expanduser(params.cwd or "."))
    command = params.argv if params.argv is not None else params.command or ""
    from aman.tools.hardline import check_command  # on first use: boot does not pay for it

    return check_command(command, home=os.path.expanduser("~"), cwd=cwd)


def exec_tool(processes: DetachedProcesses) -> Tool:
    """The ``exec`` tool; detached runs are kept in ``processes``."""

    async def handler(params: ExecParams, ctx: ToolContext) -> ToolOutput:
        if params.detach:
            return await processes.start(params, ctx)
        return await _run(params, ctx)

    return Tool(
        name="exec",
        description=(
            "Run a command: 'argv' (a list, no shell) or 'command' (a /bin/sh -c string), in "
            "'cwd' inside the workspace. Returns exit_code, stdout, stderr (each capped), "
            "timed_out and duration_ms; a non-zero exit is a normal result. The whole process "
            "group is killed at the timeout. 'detach': true returns {handle, pid} at once and "
            "streams output as tool:progress events, then tool:completed with the exit code."),
        params=ExecParams, sensitivity=Sensitivity.HIGH, handler=handler, guard=_guard)
