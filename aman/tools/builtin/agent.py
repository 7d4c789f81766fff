"""The ``delegate_task`` tool: one sub-agent turn in a background session, and its reply.

The tools are registered (boot phase 3) before chat exists, so the handler reaches the chat
service through a callable resolved at call time. Each session ``delegate_task`` creates
remembers its depth (its caller's depth + 1; sessions it did not create are 0), and a call from a
session at ``MAX_DEPTH`` is refused, so delegation cannot recurse without end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from aman.tools.model import Sensitivity, Tool, ToolContext, ToolFailedError, ToolOutput

if TYPE_CHECKING:
    from aman.chat.sessions import ChatService

#: Deepest session that may still delegate is MAX_DEPTH - 1: root (0) → 1 → 2, then refused.
MAX_DEPTH = 2
#: Longest session title taken from the task.
TITLE_CHARS = 80


class DelegateParams(BaseModel):
    """Parameters of ``delegate_task``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    task: str = Field(min_length=1, description="What the sub-agent should do, in full.")
    agent_id: str | None = Field(None, description="The agent to ask (default: the caller).")
    timeout_sec: float = Field(120.0, gt=0, le=600,
                               description="Seconds to wait for the sub-agent's reply.")


def _title(task: str) -> str:
    line = " ".join(task.split())
    text = f"delegated: {line}"
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1] + "…"


def delegate_tool(chat: Callable[[], ChatService | None]) -> Tool:
    """The ``delegate_task`` tool; ``chat`` returns the chat service when called."""
    depths: dict[str, int] = {}

    async def handler(params: DelegateParams, ctx: ToolContext) -> ToolOutput:
        service = chat()
        if service is None:
            raise ToolFailedError("delegate_task needs the chat service, which is not running")
        depth = depths.get(ctx.session_id, 0) if ctx.session_id else 0
        if depth >= MAX_DEPTH:
            raise ToolFailedError(
                f"delegation depth limit reached: this session is at depth {depth} and "
                f"delegate_task allows at most {MAX_DEPTH} levels; do the task yourself")
        agent_id = params.agent_id or ctx.agent_id
        session = await service.create(agent_id=agent_id, session_type="background",
                                       title=_title(params.task),
                                       operator=f"agent:{ctx.agent_id or 'operator'}",
                                       purpose="delegate")
        session_id = session["id"]
        depths[session_id] = depth + 1
        receipt = await service.send(session_id, params.task, expected_version=None,
                                     operator=f"agent:{ctx.agent_id or 'operator'}")
        try:
            reply = await asyncio.wait_for(asyncio.shield(receipt.reply), params.timeout_sec)
        except TimeoutError:
            with contextlib.suppress(Exception):
                await service.stop_generation(session_id)
            raise ToolFailedError(
                f"the sub-agent did not reply within {params.timeout_sec:g} s (session "
                f"{session_id}); its turn was stopped") from None
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(service.stop_generation(session_id))
            raise
        if reply is None:
            raise ToolFailedError(f"the sub-agent's turn in session {session_id} ended without "
                                  "a reply (stopped)")
        output: dict[str, Any] = {"session_id": session_id, "agent_id": session["agent_id"],
                                  "reply": reply.content, "status": reply.status}
        return ToolOutput(output)

    return Tool(
        name="delegate_task",
        description=("Run one turn of a sub-agent (default: yourself) on a task in a new "
                     "background session and return its reply. Delegation nests at most "
                     f"{MAX_DEPTH} levels deep."),
        params=DelegateParams,
        sensitivity=Sensitivity.MEDIUM,
        handler=handler,
    )
