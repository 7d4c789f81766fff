"""The exec tool: argv and shell runs, caps, cwd confinement, process-group kills, detached runs."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aman.tools.builtin.exec import DetachedProcesses, ExecParams, exec_tool
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput
from aman.tools.workspace import PathNotAllowedError
from tests.helpers import wait_for


def alive(pid: int) -> bool:
    """Running, not merely an unreaped zombie (the container's init may not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def context(tmp_path: Path, events: list[tuple[str, dict[str, Any]]] | None = None,
            **overrides: Any) -> ToolContext:
    def emit(type_: str, payload: dict[str, Any]) -> None:
        if events is not None:
            events.append((type_, payload))

    return ToolContext(call_id="exec-1", session_id="s1", roots=(tmp_path,), emit=emit,
                       **overrides)


async def run(tool: Tool, ctx: ToolContext, **params: Any) -> ToolOutput:
    return await tool.handler(tool.params.model_validate(params), ctx)


async def read_pids(path: Path) -> list[int]:
    await wait_for(lambda: path.exists() and path.read_text().endswith("\n"),
                   what=f"{path} to be written")
    return [int(p) for p in path.read_text().split()]


@pytest.fixture
def tool() -> Tool:
    return exec_tool(DetachedProcesses())


def test_exec_is_a_high_tool_taking_argv_or_command(tool: Tool) -> None:
    assert tool.name == "exec" and tool.sensitivity is Sensitivity.HIGH
    assert {"command", "argv", "cwd", "timeout_sec", "detach", "stdin"} <= set(
        tool.schema()["properties"])
    with pytest.raises(ValidationError, match="exactly one"):
        ExecParams.model_validate({"command": "true", "argv": ["true"]})
    with pytest.raises(ValidationError, match="exactly one"):
        ExecParams.model_validate({})


async def test_argv_runs_without_a_shell(tool: Tool, tmp_path: Path) -> None:
    result = await run(tool, context(tmp_path), argv=["echo", "$HOME", "a b"])
    assert result.output["stdout"] == "$HOME a b\n"
    assert result.output["exit_code"] == 0 and result.output["timed_out"] is False
    assert result.output["duration_ms"] >= 0 and result.truncated is False


async def test_shell_string_with_stderr_and_a_nonzero_exit_is_output(
        tool: Tool, tmp_path: Path) -> None:
    result = await run(tool, context(tmp_path), command="echo out; echo err >&2; exit 3")
    assert result.output == {**result.output, "exit_code": 3, "stdout": "out\n", "stderr": "err\n"}


async def test_stdin_is_fed_and_absent_stdin_is_empty(tool: Tool, tmp_path: Path) -> None:
    fed = await run(tool, context(tmp_path), argv=["cat"], stdin="hello\n")
    assert fed.output["stdout"] == "hello\n"
    empty = await run(tool, context(tmp_path, exec_timeout_sec=5), argv=["cat"])
    assert empty.output["stdout"] == "" and empty.output["timed_out"] is False


async def test_output_is_capped_with_a_note(tool: Tool, tmp_path: Path) -> None:
    result = await run(tool, context(tmp_path, max_output_bytes=1024),
                       command="head -c 5000 /dev/zero | tr '\\0' a; echo small >&2")
    assert result.truncated is True
    assert result.output["stdout"].startswith("a" * 1024)
    assert "[output truncated: 5000 bytes, showing the first 1024]" in result.output["stdout"]
    assert result.output["stderr"] == "small\n"


async def test_cwd_defaults_to_the_workspace_and_stays_inside_the_roots(
        tool: Tool, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    here = await run(tool, context(tmp_path), argv=["pwd"])
    assert here.output["stdout"].strip() == str(tmp_path.resolve())
    sub = await run(tool, context(tmp_path), argv=["pwd"], cwd="sub")
    assert sub.output["stdout"].strip() == str((tmp_path / "sub").resolve())
    with pytest.raises(PathNotAllowedError):
        await run(tool, context(tmp_path), argv=["pwd"], cwd="..")
    with pytest.raises(PathNotAllowedError):
        await run(tool, context(tmp_path), argv=["pwd"], cwd="/etc")
    with pytest.raises(ToolFailedError, match="not an existing folder"):
        await run(tool, context(tmp_path), argv=["pwd"], cwd="missing")


async def test_a_missing_binary_is_a_failure(tool: Tool, tmp_path: Path) -> None:
    with pytest.raises(ToolFailedError, match="no-such-binary-aman"):
        await run(tool, context(tmp_path), argv=["no-such-binary-aman"])


async def test_timeout_kills_the_whole_process_group(tool: Tool, tmp_path: Path) -> None:
    started = time.monotonic()
    result = await run(tool, context(tmp_path, exec_timeout_sec=0.5),
                       command="sleep 30 & echo $$ $!; sleep 30", timeout_sec=100)
    assert time.monotonic() - started < 3
    assert result.output["timed_out"] is True and result.output["exit_code"] != 0
    pids = [int(p) for p in result.output["stdout"].split()]
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


async def test_children_left_behind_by_a_finished_command_are_killed(
        tool: Tool, tmp_path: Path) -> None:
    started = time.monotonic()
    result = await run(tool, context(tmp_path), command="sleep 30 & echo $!")
    assert time.monotonic() - started < 3 and result.output["exit_code"] == 0
    assert not alive(int(result.output["stdout"]))


async def test_sigterm_ignored_gets_sigkill_after_the_grace(tool: Tool, tmp_path: Path) -> None:
    started = time.monotonic()
    result = await run(tool, context(tmp_path), timeout_sec=0.3,
                       command="trap '' TERM; sleep 30 & echo $$ $!; sleep 30")
    assert 2 <= time.monotonic() - started < 5
    assert result.output["timed_out"] is True
    assert not any(alive(int(pid)) for pid in result.output["stdout"].split())


async def test_cancelling_the_call_kills_the_process_group(tool: Tool, tmp_path: Path) -> None:
    task = asyncio.create_task(run(tool, context(tmp_path),
                                   command="sleep 30 & echo $$ $! > pids; sleep 30"))
    pids = await read_pids(tmp_path / "pids")
    assert all(alive(pid) for pid in pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not any(alive(pid) for pid in pids)


async def test_detach_returns_at_once_then_streams_progress_and_completion(
        tmp_path: Path) -> None:
    processes = DetachedProcesses(progress_interval=0.05)
    events: list[tuple[str, dict[str, Any]]] = []
    result = await run(exec_tool(processes), context(tmp_path, events), detach=True,
                       command="echo one; sleep 0.3; echo two >&2; sleep 0.3; exit 3")
    handle = result.output["handle"]
    assert set(result.output) == {"handle", "pid"} and len(processes) == 1
    await wait_for(lambda: events and events[-1][0] == "tool:completed",
                   what="the detached command to complete")
    progress = [p for kind, p in events if kind == "tool:progress"]
    assert {(p["stream"], p["text"]) for p in progress} == {
        ("stdout", "one\n"), ("stderr", "two\n")}
    assert all(p["handle"] == handle and p["call_id"] == "exec-1" and p["session_id"] == "s1"
               for p in progress)
    kind, done = events[-1]
    assert kind == "tool:completed"
    assert done["handle"] == handle and done["exit_code"] == 3 and done["stopped"] is False
    assert len(processes) == 0


async def test_detached_output_is_coalesced(tmp_path: Path) -> None:
    processes = DetachedProcesses(progress_interval=0.5)
    events: list[tuple[str, dict[str, Any]]] = []
    await run(exec_tool(processes), context(tmp_path, events), detach=True,
              command="for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; sleep 0.01; done")
    await wait_for(lambda: events and events[-1][0] == "tool:completed",
                   what="the detached command to complete")
    progress = [p["text"] for kind, p in events if kind == "tool:progress"]
    assert "".join(progress) == "".join(f"{i}\n" for i in range(1, 11))
    assert len(progress) <= 2


async def test_stop_all_kills_every_detached_group(tmp_path: Path) -> None:
    processes = DetachedProcesses()
    events: list[tuple[str, dict[str, Any]]] = []
    tool = exec_tool(processes)
    await run(tool, context(tmp_path, events), detach=True,
              command="sleep 30 & echo $$ $! > pids1; sleep 30")
    await run(tool, context(tmp_path, events), detach=True,
              command="sleep 30 & echo $$ $! > pids2; sleep 30")
    pids = await read_pids(tmp_path / "pids1") + await read_pids(tmp_path / "pids2")
    assert len(processes.running()) == 2 and all(alive(pid) for pid in pids)
    await processes.stop_all()
    assert not any(alive(pid) for pid in pids)
    completed = [p for kind, p in events if kind == "tool:completed"]
    assert len(completed) == 2 and all(p["stopped"] for p in completed)
    assert len(processes) == 0


async def test_too_many_detached_processes_are_refused(tmp_path: Path) -> None:
    processes = DetachedProcesses(max_running=1)
    tool = exec_tool(processes)
    await run(tool, context(tmp_path), detach=True, argv=["sleep", "30"])
    with pytest.raises(ToolFailedError, match="at most 1"):
        await run(tool, context(tmp_path), detach=True, argv=["sleep", "30"])
    await processes.stop_all()
    assert processes.running() == []


def test_guard_checks_the_command_or_the_argv(tool: Tool, tmp_path: Path) -> None:
    assert tool.guard is not None
    blocked = tool.guard(ExecParams(command="ls; rm -rf /"), context(tmp_path))
    assert blocked is not None and blocked.reason
    assert tool.guard(ExecParams(argv=["rm", "-rf", "/"]), context(tmp_path)) is not None
    assert tool.guard(ExecParams(command='echo "rm -rf /"'), context(tmp_path)) is None
    assert tool.guard(ExecParams(command="rm -rf ~"), context(tmp_path)) is not None
    deep = context(tmp_path / "a")
    assert tool.guard(ExecParams(command="rm -rf " + "../" * 40), deep) is not None
    assert tool.guard(ExecParams(argv=["rm", "-rf", "build"]), deep) is None


async def test_stop_right_after_start_still_kills_the_process(tmp_path: Path) -> None:
    processes = DetachedProcesses()
    started = await run(exec_tool(processes), context(tmp_path), detach=True,
                        argv=["sleep", "30"])
    assert await processes.stop(started.output["handle"]) is True
    assert not alive(started.output["pid"]) and len(processes) == 0
    assert await processes.stop(started.output["handle"]) is False
