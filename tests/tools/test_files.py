"""The built-in file tools and read_skill, run directly on a temporary workspace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from aman.errors import NotFoundError
from aman.tools.builtin import BUILTIN_TOOL_NAMES, builtin_tools
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput
from aman.tools.workspace import PathNotAllowedError


@dataclass
class FakeSkill:
    body: str
    ok: bool = True
    status: str = "ok"
    kind: str = "markdown"


class FakeSkills:
    def __init__(self) -> None:
        self.skills = {"greet": FakeSkill("Say hello politely."),
                       "cron": FakeSkill("", kind="event")}
        self.disabled = {"off"}
        self.skills["off"] = FakeSkill("x")

    def get(self, name: str) -> FakeSkill:
        if name not in self.skills:
            raise NotFoundError(f"no skill named {name!r}")
        return self.skills[name]

    def enabled(self, name: str) -> bool:
        return name not in self.disabled


@pytest.fixture
def tools() -> dict[str, Tool]:
    return {t.name: t for t in builtin_tools(FakeSkills())}


def test_builtin_tool_names_match_the_tools() -> None:
    # The boot step claims BUILTIN_TOOL_NAMES before the tool modules are imported.
    built = builtin_tools(FakeSkills(), chat=lambda: None)
    assert sorted(t.name for t in built) == sorted(BUILTIN_TOOL_NAMES)


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return ToolContext(call_id="c1", roots=(workspace,), max_output_bytes=2048)


async def run(tools: dict[str, Tool], tool_name: str, ctx: ToolContext, /,
              **arguments: Any) -> ToolOutput:
    tool = tools[tool_name]
    return await tool.handler(tool.params.model_validate(arguments), ctx)


def test_default_sensitivities(tools: dict[str, Tool]) -> None:
    levels = {name: t.sensitivity for name, t in tools.items()}
    low, medium = Sensitivity.LOW, Sensitivity.MEDIUM
    assert {n: levels[n]
            for n in ("read", "list", "find", "grep", "read_skill", "write", "edit")} == {
        "read": low, "list": low, "find": low, "grep": low, "read_skill": low,
        "write": medium, "edit": medium}


def test_every_parameter_is_described_for_the_model(tools: dict[str, Tool]) -> None:
    for tool in tools.values():
        for field, spec in tool.schema()["properties"].items():
            assert spec.get("description"), f"{tool.name}.{field}"


async def test_write_then_read(tools: dict[str, Tool], ctx: ToolContext) -> None:
    out = await run(tools, "write", ctx, path="notes/a.txt", content="one\ntwo\nthree\n")
    assert out.output == {"path": "notes/a.txt", "bytes": 14, "created": True}
    assert (await run(tools, "read", ctx, path="notes/a.txt")).output == "one\ntwo\nthree\n"
    part = (await run(tools, "read", ctx, path="notes/a.txt", offset=2, limit=1)).output
    assert part.startswith("two\n") and "[lines 2-2 of 3]" in part


async def test_write_without_create_dirs_needs_the_folder(tools: dict[str, Tool],
                                                          ctx: ToolContext) -> None:
    with pytest.raises(ToolFailedError, match="create_dirs"):
        await run(tools, "write", ctx, path="new/a.txt", content="x", create_dirs=False)
    assert not (ctx.workspace / "new").exists()


async def test_read_errors(tools: dict[str, Tool], ctx: ToolContext) -> None:
    with pytest.raises(ToolFailedError, match="no file"):
        await run(tools, "read", ctx, path="missing.txt")
    (ctx.workspace / "bin").write_bytes(b"\x00\x01")
    with pytest.raises(ToolFailedError, match="binary"):
        await run(tools, "read", ctx, path="bin")
    with pytest.raises(PathNotAllowedError):
        await run(tools, "read", ctx, path="../outside.txt")


async def test_read_output_is_capped(tools: dict[str, Tool], ctx: ToolContext) -> None:
    (ctx.workspace / "big.txt").write_text("x" * 5000)
    out = await run(tools, "read", ctx, path="big.txt")
    assert out.truncated and "[output truncated: 5000 bytes" in out.output


async def test_edit_replaces_exactly_one_match(tools: dict[str, Tool], ctx: ToolContext) -> None:
    target = ctx.workspace / "e.txt"
    target.write_text("alpha beta alpha")
    with pytest.raises(ToolFailedError, match="occurs 2 times"):
        await run(tools, "edit", ctx, path="e.txt", old="alpha", new="x")
    with pytest.raises(ToolFailedError, match="occurs 0 times"):
        await run(tools, "edit", ctx, path="e.txt", old="gamma", new="x")
    assert target.read_text() == "alpha beta alpha"  # refused edits change nothing
    out = await run(tools, "edit", ctx, path="e.txt", old="beta", new="BETA")
    assert out.output == {"path": "e.txt", "replaced": 1}
    assert target.read_text() == "alpha BETA alpha"


async def test_list(tools: dict[str, Tool], ctx: ToolContext) -> None:
    (ctx.workspace / "d").mkdir()
    (ctx.workspace / "d" / "f.txt").write_text("abc")
    (ctx.workspace / "top.txt").write_text("1")
    flat = (await run(tools, "list", ctx)).output
    assert flat["entries"] == [{"path": "d", "type": "dir", "size": None},
                               {"path": "top.txt", "type": "file", "size": 1}]
    deep = (await run(tools, "list", ctx, path=".", recursive=True)).output
    assert {"path": "d/f.txt", "type": "file", "size": 3} in deep["entries"]
    with pytest.raises(ToolFailedError, match="not a folder"):
        await run(tools, "list", ctx, path="top.txt")


async def test_find(tools: dict[str, Tool], ctx: ToolContext, tmp_path: Path) -> None:
    (ctx.workspace / "a").mkdir()
    (ctx.workspace / "a" / "x.py").write_text("")
    (ctx.workspace / "y.py").write_text("")
    (ctx.workspace / "z.md").write_text("")
    (ctx.workspace / "out").symlink_to(tmp_path)  # an escaping link is never listed through
    out = (await run(tools, "find", ctx, pattern="**/*.py")).output
    assert sorted(out["matches"]) == ["a/x.py", "y.py"]
    with pytest.raises(ValidationError):
        tools["find"].params.model_validate({"pattern": "../*"})


async def test_grep(tools: dict[str, Tool], ctx: ToolContext) -> None:
    (ctx.workspace / "a.py").write_text("def main():\n    return 1\n")
    (ctx.workspace / "b.txt").write_text("main street\n")
    out = (await run(tools, "grep", ctx, pattern=r"main")).output
    assert {(m["path"], m["line"]) for m in out["matches"]} == {("a.py", 1), ("b.txt", 1)}
    only_py = (await run(tools, "grep", ctx, pattern="MAIN", glob="*.py", ignore_case=True)).output
    assert only_py["matches"] == [{"path": "a.py", "line": 1, "text": "def main():"}]
    (ctx.workspace / "many.txt").write_text("hit\n" * 20)
    capped = (await run(tools, "grep", ctx, pattern="hit", max_results=5)).output
    assert len(capped["matches"]) == 5 and capped["truncated"]


def test_grep_limits_are_validated(tools: dict[str, Tool]) -> None:
    params = tools["grep"].params
    assert params.model_validate({"pattern": "x"}).max_results == 100  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="max_results"):
        params.model_validate({"pattern": "x", "max_results": 501})
    with pytest.raises(ValidationError, match="regular expression"):
        params.model_validate({"pattern": "("})


async def test_read_skill(tools: dict[str, Tool], ctx: ToolContext) -> None:
    assert (await run(tools, "read_skill", ctx, name="greet")).output == "Say hello politely."
    with pytest.raises(ToolFailedError, match="no skill named"):
        await run(tools, "read_skill", ctx, name="nope")
    with pytest.raises(ToolFailedError, match="disabled"):
        await run(tools, "read_skill", ctx, name="off")
    with pytest.raises(ToolFailedError, match="no instructions"):
        await run(tools, "read_skill", ctx, name="cron")


@pytest.mark.parametrize("path", [".env", "sub/.env", "../.bashrc"])
def test_write_guard_blocks_hardline_paths(tools: dict[str, Tool], ctx: ToolContext,
                                           path: str) -> None:
    for name in ("write", "edit"):
        tool = tools[name]
        args = ({"path": path, "content": "x"} if name == "write"
                else {"path": path, "old": "a", "new": "b"})
        block = tool.guard(tool.params.model_validate(args), ctx)  # type: ignore[misc]
        assert block is not None and block.rule and block.reason


def test_write_guard_passes_ordinary_paths(tools: dict[str, Tool], ctx: ToolContext) -> None:
    tool = tools["write"]
    params = tool.params.model_validate({"path": "notes.txt", "content": "x"})
    assert tool.guard(params, ctx) is None  # type: ignore[misc]
