"""The model's memory tools: ``memory`` (write), ``memory_search`` and ``memory_get`` (read).

They act for the calling session's agent, and only within memory's scope: a session of an IM chat
that is not the owner's gets an error, never the memory. Writes are all or nothing; a full file
answers with its usage and entries so the model can consolidate; after three failed writes in
one turn the tool answers only that the model should stop writing memory this turn.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aman.config.memory import WRITE_TOOL
from aman.errors import AmanError
from aman.memory.model import MemoryWriteError
from aman.memory.service import MemoryService
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput

#: Failed writes in one turn after which the tool refuses outright (no loops on a full file).
MAX_FAILED_WRITES = 3
STOP_MESSAGE = ("stop writing memory this turn: three writes failed. Answer the person; "
                "consolidate memory in a later turn.")
_TURNS_KEPT = 1000


class MemoryOperation(BaseModel):
    """One change to a memory file."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["add", "replace", "remove"]
    target: Literal["memory", "user"] = Field(
        "memory", description="memory: MEMORY.md (facts, decisions); user: USER.md (the person).")
    content: str | None = Field(None, max_length=20_000, description="add and replace: the entry.")
    old_text: str | None = Field(None, max_length=2_000,
                                 description="replace and remove: text of exactly one entry.")


class MemoryParams(MemoryOperation):
    """``memory``: one operation, or ``operations`` applied all or nothing."""

    action: Literal["add", "replace", "remove"] | None = None  # type: ignore[assignment]
    operations: list[MemoryOperation] | None = Field(None, max_length=50)

    @model_validator(mode="after")
    def _one_form(self) -> MemoryParams:
        if (self.operations is None) == (self.action is None):
            raise ValueError("give either action (one operation) or operations (a batch)")
        return self


class SearchParams(BaseModel):
    """``memory_search``."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=500)
    limit: int = Field(10, ge=1, le=50)


class GetParams(BaseModel):
    """``memory_get``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str = Field(min_length=1, max_length=500,
                      description="A path from memory_search results.")
    from_: int = Field(1, ge=1, alias="from", description="First line (1-based).")
    lines: int | None = Field(None, ge=1, le=5000)


def memory_tools(service: MemoryService) -> list[Tool]:
    """The three tools, bound to ``service``."""
    failures: OrderedDict[str, int] = OrderedDict()

    def agent_of(ctx: ToolContext) -> str:
        if not ctx.agent_id:
            raise ToolFailedError("memory tools need an agent (call them from a chat turn)")
        return ctx.agent_id

    async def in_scope(ctx: ToolContext) -> str:
        agent_id = agent_of(ctx)
        if not service.settings(agent_id).memory.enabled:
            raise ToolFailedError(f"memory is off for agent {agent_id}")
        if not await service.in_scope(agent_id, ctx.session_id):
            raise ToolFailedError("memory is not available in this conversation")
        return agent_id

    async def write(params: MemoryParams, ctx: ToolContext) -> ToolOutput:
        turn = ctx.turn_id or ctx.call_id
        if failures.get(turn, 0) >= MAX_FAILED_WRITES:
            raise ToolFailedError(STOP_MESSAGE)
        agent_id = await in_scope(ctx)
        operations = params.operations or [params]
        by_target: dict[str, list[dict[str, Any]]] = {}
        for op in operations:
            by_target.setdefault(op.target, []).append(op.model_dump(exclude={"target"}))
        try:
            if len(by_target) > 1:
                raise MemoryWriteError("one batch changes one file; send memory and user "
                                       "operations in separate calls")
            (target, ops), = by_target.items()
            changed = await service.change(agent_id, target, ops, author=f"agent:{agent_id}",
                                           reason=f"memory tool in session {ctx.session_id}")
        except AmanError as exc:
            failures[turn] = failures.get(turn, 0) + 1
            failures.move_to_end(turn)
            while len(failures) > _TURNS_KEPT:
                failures.popitem(last=False)
            if failures[turn] >= MAX_FAILED_WRITES:
                raise ToolFailedError(f"{exc.message}. {STOP_MESSAGE}") from None
            raise ToolFailedError(exc.message) from None
        return ToolOutput({"ok": True, "file": changed.to_json()["file"],
                           "version": changed.version, "usage": changed.usage(),
                           "entries": list(changed.entries)})

    async def search(params: SearchParams, ctx: ToolContext) -> ToolOutput:
        agent_id = await in_scope(ctx)
        hits = await service.search(agent_id, params.query, params.limit,
                                    session_id=ctx.session_id)
        return ToolOutput({"results": [{k: v for k, v in hit.items() if k != "score"}
                                       for hit in hits]})

    async def get(params: GetParams, ctx: ToolContext) -> ToolOutput:
        agent_id = await in_scope(ctx)
        try:
            text = service.get(agent_id, params.path, params.from_, params.lines)
        except AmanError as exc:
            raise ToolFailedError(exc.message) from None
        return ToolOutput({"path": params.path, "text": text})

    return [
        Tool(WRITE_TOOL, "Change your long-term memory: add, replace or remove entries of "
             "MEMORY.md (target memory: facts, decisions, preferences of the work) or USER.md "
             "(target user: about your person). old_text must match exactly one entry. "
             "Use operations for several changes at once.", MemoryParams, Sensitivity.LOW,
             write),
        Tool("memory_search", "Search your memory files, imported notes and your earlier "
             "conversations; answers snippets with where they came from.", SearchParams,
             Sensitivity.LOW, search),
        Tool("memory_get", "Read a memory file or note by the path memory_search names "
             "(from: first line, lines: how many).", GetParams, Sensitivity.LOW,
             get),
    ]
