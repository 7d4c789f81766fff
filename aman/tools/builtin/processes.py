"""Process groups for the ``exec`` tool: start a command in a session of its own, wait for its
leader, and kill the whole group (SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import TYPE_CHECKING

from aman.tools.model import ToolContext, ToolFailedError
from aman.tools.workspace import resolve

if TYPE_CHECKING:
    from aman.tools.builtin.exec import ExecParams

#: Seconds between SIGTERM and SIGKILL: long enough for a clean exit, short enough for a stop.
KILL_GRACE_SEC = 2.0


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process remains in group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # A signal reaches zombies too, and an init that does not reap leaves them around: ask /proc.
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False


async def leader_exit(proc: asyncio.subprocess.Process) -> int:
    """Wait for the command's own process only.

    ``Process.wait()`` also waits for the pipes to close, which a background child holding
    stdout would delay until it dies: poll the return code instead (backing off to 0.2 s).
    """
    delay = 0.01
    while proc.returncode is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    return proc.returncode


async def kill_group(proc: asyncio.subprocess.Process, grace: float = KILL_GRACE_SEC) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL whatever is left after ``grace``."""
    pgid = proc.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        try:
            await asyncio.wait_for(leader_exit(proc), grace)
        except TimeoutError:
            pass
        while _group_alive(pgid) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:  # also when cancelled again while waiting: never leave the group running
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        if proc.returncode is None:
            proc.kill()
            await leader_exit(proc)


async def spawn(params: ExecParams, ctx: ToolContext, *,
                 stdout: int | None = None) -> asyncio.subprocess.Process:
    """Start the command; ``stdout`` is a file descriptor to write to instead of a pipe."""
    argv = ["/bin/sh", "-c", params.command] if params.command is not None else params.argv
    assert argv is not None
    cwd = _cwd(params.cwd, ctx)
    pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    # Writing to a terminal, programs print colours unless the terminal says it has none.
    env = None if stdout is None else {**os.environ, "TERM": "dumb"}
    try:
        return await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, start_new_session=True, env=env,
            # No stdin given: /dev/null, so a command that reads it ends instead of hanging.
            stdin=pipe if params.stdin is not None else devnull,
            stdout=pipe if stdout is None else stdout, stderr=pipe)
    except FileNotFoundError as exc:
        missing = cwd if exc.filename == cwd else argv[0]
        raise ToolFailedError(f"cannot start {argv[0]!r}: {missing!r} not found") from exc
    except OSError as exc:
        raise ToolFailedError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc


def _cwd(cwd: str | None, ctx: ToolContext) -> str | None:
    """The working folder: ``cwd`` confined to the roots (escapes raise PathNotAllowedError)."""
    if not ctx.roots:
        if cwd is not None:
            raise ToolFailedError("no workspace is configured, so 'cwd' cannot be used")
        return None
    if cwd is None:
        ctx.workspace.mkdir(parents=True, exist_ok=True)  # a fresh runtime has none yet
        return str(ctx.workspace)
    path = resolve(cwd, ctx.roots)
    if not path.is_dir():
        raise ToolFailedError(f"cwd {cwd!r} ({path}) is not an existing folder")
    return str(path)


async def feed(proc: asyncio.subprocess.Process, text: str | None) -> None:
    """Write ``text`` to the command's standard input and close it."""
    if text is None or proc.stdin is None:
        return
    try:
        proc.stdin.write(text.encode())
        await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the command did not read it all; that is its business
    finally:
        proc.stdin.close()
