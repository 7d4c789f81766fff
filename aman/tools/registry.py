"""ToolRegistry: the tools by name, what each agent is offered, and running one call.

One ``execute`` serves every caller (``POST /tools/{name}/execute``, the agent's ReAct loop,
plugins): validate, run the tool's never-approvable guard, then the handler, publishing facts on
the way. Whether a call needs a human's approval is decided before ``execute`` by the approval
service and the chat loop, never here, so this path cannot be used to skip a hardline block.
"""

from __future__ import annotations

import asyncio
import difflib
import fnmatch
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from aman.clock import Clock
from aman.config.agents import AgentToolSettings
from aman.errors import ConflictError, ForbiddenError, NotFoundError
from aman.events.ports import FactEmitter
from aman.events.types import EventTable
from aman.parsing import parse_model
from aman.tools.model import (
    CallBlocked,
    Sensitivity,
    Status,
    Tool,
    ToolContext,
    ToolFailedError,
    ToolResult,
    ToolTimedOutError,
)

if TYPE_CHECKING:
    from aman.config.settings import Settings

log = logging.getLogger(__name__)

SOURCE = "tools"
TOOL_DISPATCHED = "tool:dispatched"
TOOL_COMPLETED = "tool:completed"
TOOL_FAILED = "tool:failed"
TOOL_SECURITY_DENIED = "tool:security_denied"
#: A call whose work goes on in the background started (a detached exec: ``{handle, pid}``);
#: its ``tool:progress`` events and its one ``tool:completed`` follow.
TOOL_DETACHED = "tool:detached"
TOOL_PROGRESS = "tool:progress"
#: Every type tool calls emit, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (TOOL_DISPATCHED, "A tool call started."),
    (TOOL_DETACHED, "A tool call's work goes on in the background (a detached exec); its "
                    "progress and its one tool:completed follow."),
    (TOOL_COMPLETED, "A tool call finished; payload has its duration and status."),
    (TOOL_FAILED, "A tool call failed; payload has the error."),
    (TOOL_SECURITY_DENIED, "A tool call was refused by a hardline rule, the network rules or "
                           "the tool policy."),
    (TOOL_PROGRESS, "Output of a detached exec process, coalesced."),
)
#: A tool's output carried in an event is capped at 1 000 characters, so events stay small.
EVENT_OUTPUT_CHARS = 1000


class ToolNotFoundError(NotFoundError):
    """No registered tool has this name."""

    code = "tool_not_found"
    hint = "GET /tools lists the registered tools."


class ToolClashError(ConflictError):
    """A second tool wants a name that is already registered."""

    code = "tool_name_taken"
    hint = "Rename the new tool (plugin tools cannot replace built-in or other plugins' tools)."


class Auditor(Protocol):
    """The part of the audit log the registry needs."""

    @property
    def available(self) -> bool:
        """Whether records can be written now."""
        ...

    async def record(self, action: str, *, operator: str = ..., target: str = ...,
                     outcome: str = ..., detail: dict[str, Any] | None = ...,
                     request_id: str | None = ...) -> Any:
        """Append one record."""
        ...


class ToolBlockedError(ForbiddenError):
    """A hardline rule refused the call; no approval or confirmation can lift it."""

    code = "tool_blocked"
    hint = "This call is never allowed (see docs/tools.md); change what the call does."


def _base(name: str, ctx: ToolContext) -> dict[str, Any]:
    return {"call_id": ctx.call_id, "tool": name, "session_id": ctx.session_id,
            "agent_id": ctx.agent_id}


def _event_output(output: Any) -> str:
    text = output if isinstance(output, str) else repr(output)
    return text if len(text) <= EVENT_OUTPUT_CHARS else text[:EVENT_OUTPUT_CHARS] + "…"


@dataclass(frozen=True)
class _Deferred:
    """Names a source has claimed whose tools are built on first use (``register_deferred``)."""

    source: str
    names: frozenset[str]
    load: Callable[[], list[Tool]]


class ToolRegistry:
    """Every tool by name (built-in and plugin), with their effective sensitivity."""

    def __init__(self, settings: Callable[[], Settings], bus: FactEmitter, audit: Auditor,
                 clock: Clock) -> None:
        self._settings = settings
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self._tools: dict[str, Tool] = {}
        self._deferred: dict[str, _Deferred] = {}

    # --- registration --------------------------------------------------------------------

    def register(self, tool: Tool) -> None:
        """Add ``tool``; ``ToolClashError`` naming both sources when its name is taken."""
        if not isinstance(tool, Tool):
            raise TypeError(f"{tool!r} is not an aman.tools.model.Tool")
        self._check_free(tool.name, tool.source)
        self._tools[tool.name] = tool

    def register_deferred(self, source: str, names: Sequence[str],
                          load: Callable[[], list[Tool]]) -> None:
        """Claim ``names`` for ``source`` now; ``load`` builds exactly those tools on first use.

        The built-in tools come this way: their modules and parameter models are imported only
        when a tool is first listed, looked up or called, which keeps the idle daemon small.
        A clash is refused here, at registration, as with ``register``.
        """
        for name in names:
            self._check_free(name, source)
        deferred = _Deferred(source, frozenset(names), load)
        for name in names:
            self._deferred[name] = deferred

    def _check_free(self, name: str, source: str) -> None:
        existing = self._tools.get(name) or self._deferred.get(name)
        if existing is not None:
            raise ToolClashError(f"tool name {name!r} is already registered by "
                                 f"{existing.source}; {source} cannot register it too",
                                 details={"tool": name, "registered_by": existing.source,
                                          "refused": source})

    def _load(self, deferred: _Deferred) -> None:
        tools = deferred.load()
        built = {tool.name: tool for tool in tools}
        if set(built) != deferred.names:
            raise RuntimeError(f"the deferred tools of {deferred.source} built "
                               f"{sorted(built)}, not the names claimed {sorted(deferred.names)}")
        for name, tool in built.items():
            del self._deferred[name]
            self._tools[name] = tool

    def unregister_source(self, source: str) -> list[str]:
        """Remove every tool of ``source`` (``builtin`` or ``plugin:<name>``); their names."""
        gone = [name for name, tool in self._tools.items() if tool.source == source]
        for name in gone:
            del self._tools[name]
        claimed = [name for name, d in self._deferred.items() if d.source == source]
        for name in claimed:
            del self._deferred[name]
        return gone + claimed

    # --- views ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted([*self._tools, *self._deferred])

    def get(self, name: str) -> Tool:
        """The tool called ``name``; 404 ``tool_not_found`` listing close names."""
        deferred = self._deferred.get(name)
        if deferred is not None:
            self._load(deferred)
        tool = self._tools.get(name)
        if tool is None:
            close = difflib.get_close_matches(name, self.names(), n=3)
            suggestion = f"; did you mean {', '.join(close)}?" if close else ""
            raise ToolNotFoundError(f"no tool named {name!r}{suggestion}",
                                    details={"close": close})
        return tool

    def sensitivity(self, name: str, overrides: Mapping[str, str] | None = None) -> Sensitivity:
        """The effective level: the caller's ``overrides`` (an agent's), else the
        ``tools.sensitivity`` override, else the tool's own."""
        override = (overrides or {}).get(name) or self._settings().tools.sensitivity.get(name)
        return Sensitivity(override) if override else self.get(name).sensitivity

    def listing(self) -> list[dict[str, Any]]:
        """``GET /tools`` items, sorted by name, with the effective sensitivity."""
        return [self.get(n).describe(self.sensitivity(n)) for n in self.names()]

    def offered(self, agent_tools: AgentToolSettings) -> list[Tool]:
        """Tools an agent's model may see: matching an ``allow`` glob and no ``deny`` glob."""
        return [self.get(n) for n in self.names() if is_offered(n, agent_tools)]

    # --- execution -----------------------------------------------------------------------

    async def execute(self, name: str, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Validate, guard and run one call; blocked and failed calls come back as results.

        Raises ``ToolNotFoundError`` (404) and ``ValidationFailedError`` (400, naming the field
        path). Cancelling the caller cancels the handler.
        """
        started = self._clock.monotonic()
        tool, params, blocked = await self._screen(name, arguments, ctx, started)
        if blocked is not None:
            return blocked
        base = _base(name, ctx)
        self._bus.emit(TOOL_DISPATCHED, {**base, "source": tool.source}, source=SOURCE)
        try:
            output = await tool.handler(params, ctx)
        except CallBlocked as block:
            return await self._blocked(tool, ctx, base, block, started, ran=True)
        except ToolFailedError as exc:
            return self._failed(name, ctx, base, started, exc, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a tool's bug is that call's failure only
            log.exception("tool %s (call %s) raised", name, ctx.call_id)
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return self._failed(name, ctx, base, started, exc, message)
        duration = self._ms_since(started)
        if output.detached:
            self._bus.emit(TOOL_DETACHED, {**base, "duration_ms": duration,
                                           "output": _event_output(output.output)},
                           source=SOURCE)
            return ToolResult(name, ctx.call_id, "success", output.output, duration,
                              truncated=output.truncated)
        self._bus.emit(TOOL_COMPLETED, {**base, "duration_ms": duration, "status": "success",
                                        "output": _event_output(output.output),
                                        "truncated": output.truncated}, source=SOURCE)
        return ToolResult(name, ctx.call_id, "success", output.output, duration,
                          truncated=output.truncated)

    async def screen(self, name: str, arguments: dict[str, Any],
                     ctx: ToolContext) -> ToolResult | None:
        """Validate and run the guard only: a ``blocked`` result, or None when the call may go on.

        For callers that must refuse a hardline call before asking anyone anything (the approval
        dialog, the confirmation of ``high`` tools); ``execute`` screens again itself.
        """
        _, _, blocked = await self._screen(name, arguments, ctx, self._clock.monotonic())
        return blocked

    async def _screen(self, name: str, arguments: dict[str, Any], ctx: ToolContext,
                      started: float) -> tuple[Tool, Any, ToolResult | None]:
        tool = self.get(name)
        params = parse_model(tool.params, arguments, prefix="arguments",
                             what=f"arguments for tool {name!r}")
        block = tool.guard(params, ctx) if tool.guard is not None else None
        if block is None:
            return tool, params, None
        return tool, params, await self._blocked(tool, ctx, _base(name, ctx), block, started)

    def _ms_since(self, started: float) -> float:
        return round((self._clock.monotonic() - started) * 1000, 3)

    def _failed(self, name: str, ctx: ToolContext, base: dict[str, Any], started: float,
                exc: Exception, message: str) -> ToolResult:
        duration = self._ms_since(started)
        status: Status = "timeout" if isinstance(exc, ToolTimedOutError) else "failed"
        self._bus.emit(TOOL_FAILED, {**base, "duration_ms": duration, "status": status,
                                     "output": _event_output(message),
                                     "code": getattr(exc, "code", type(exc).__name__)},
                       source=SOURCE)
        return ToolResult(name, ctx.call_id, status, message, duration, reason=message,
                          error=exc)

    async def _blocked(self, tool: Tool, ctx: ToolContext, base: dict[str, Any], block: Any,
                       started: float, *, ran: bool = False) -> ToolResult:
        rule, reason = str(block.rule), str(block.reason)
        self._bus.emit(TOOL_SECURITY_DENIED, {**base, "rule": rule, "reason": reason},
                       source=SOURCE)
        if self._audit.available:
            try:
                await self._audit.record(
                    "tool.blocked", operator=ctx.agent_id or "api", target=f"tool:{tool.name}",
                    outcome="blocked", detail={**base, "rule": rule, "reason": reason})
            except Exception:  # noqa: BLE001 - the block stands even if the record fails
                log.exception("could not audit the blocked call %s", ctx.call_id)
        log.warning("tool %s blocked (call %s): %s", tool.name, ctx.call_id, reason)
        kind, outcome = ("rule", "it stopped there") if ran else ("hardline rule",
                                                                  "nothing was run")
        error = ToolBlockedError(f"tool {tool.name!r} call blocked by {kind} {rule}: "
                                 f"{reason}; {outcome}", details={"rule": rule, "reason": reason})
        return ToolResult(tool.name, ctx.call_id, "blocked", f"blocked: {reason}",
                          self._ms_since(started), reason=reason, error=error)

    # --- plugins -------------------------------------------------------------------------

    def register_plugin_tools(self, plugin: str, tools: list[Any]) -> None:
        """Register a plugin's tools as ``plugin:<name>``; all or none (a clash refuses all)."""
        source = f"plugin:{plugin}"
        checked = []
        for tool in tools:
            if not isinstance(tool, Tool):
                raise TypeError(f"register_tools returned {type(tool).__name__}, "
                                "not an aman.tools.model.Tool")
            checked.append(tool if tool.source == source else replace(tool, source=source))
        try:
            for tool in checked:
                self.register(tool)
        except Exception:
            self.unregister_source(source)
            raise


def is_offered(name: str, agent_tools: AgentToolSettings) -> bool:
    """Whether ``name`` matches an allow glob and no deny glob."""
    allowed = any(fnmatch.fnmatchcase(name, pattern) for pattern in agent_tools.allow)
    return allowed and not any(fnmatch.fnmatchcase(name, p) for p in agent_tools.deny)
