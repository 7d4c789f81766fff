"""What a tool is: a name, a description, pydantic parameters, a sensitivity and an async handler.

The parameters' JSON Schema is what the LLM and ``GET /tools`` see. A handler receives its
validated parameters and a ``ToolContext`` (who is calling, the workspace, a way to publish
progress) and returns a ``ToolOutput``; it raises ``ToolFailedError`` for an expected failure
(a missing file, a non-zero exit is *not* one: that is output). Cancelling the task running the
handler must stop it (``exec`` kills its process group).

An approval request (``ToolAuthRequest``) is stored; ``ToolAuthRepository`` is the port a store
implements to keep them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from aman.errors import InvalidInputError

if TYPE_CHECKING:
    from aman.config.settings import Settings

Status = Literal["success", "failed", "denied", "timeout", "blocked"]
#: The life of an approval request: pending until answered, timed out, cancelled or expired.
AuthStatus = Literal["pending", "approved", "denied", "timeout", "cancelled", "expired"]


class Sensitivity(enum.Enum):
    """How much a call can change or reveal: decides whether it needs approval."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class ToolContext:
    """Everything a handler may use besides its parameters."""

    call_id: str
    session_id: str | None = None
    agent_id: str | None = None
    #: Folders file tools may touch: the workspace first, then ``tools.roots``.
    roots: tuple[Path, ...] = ()
    #: Largest output a handler returns before it is cut (``tools.max_output_bytes``).
    max_output_bytes: int = 65_536
    #: Longest an ``exec`` may run (``tools.exec_timeout_sec``).
    exec_timeout_sec: float = 60.0
    #: Publish a fact about this call (``tool:progress`` output of a detached exec, ...).
    emit: Callable[[str, dict[str, Any]], None] = field(default=lambda _type, _payload: None)
    #: The reply (turn) this call belongs to; None outside a chat turn.
    turn_id: str | None = None
    #: Hosts and networks (``tools.network.allow``) the web tools may reach although inside.
    network_allow: tuple[str, ...] = ()

    @property
    def workspace(self) -> Path:
        """The agent's own folder (relative paths start here)."""
        return self.roots[0]


class CallBlocked(Exception):  # noqa: N818 - a refusal carried to the registry, not a failure
    """A never-approvable rule refused the call while it ran (an address the web tools may not
    reach): the registry ends it as ``blocked``, audited, like a guard's block."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class ToolOutput:
    """A handler's answer; ``truncated`` says the output was capped (with a note in it)."""

    output: Any
    truncated: bool = False
    #: The work goes on after the handler returned (a detached exec): the call's
    #: ``tool:completed`` comes from the tool itself when that work ends, after its progress.
    detached: bool = False


Handler = Callable[[Any, ToolContext], Awaitable[ToolOutput]]
#: The never-approvable check of a tool: its validated parameters → a block (an object with
#: ``rule`` and ``reason``, see ``aman.tools.hardline``) or None. Runs before anything else.
Guard = Callable[[Any, ToolContext], Any]


@dataclass(frozen=True)
class Tool:
    """One registered tool."""

    name: str
    description: str
    params: type[BaseModel]
    sensitivity: Sensitivity
    handler: Handler
    source: str = "builtin"  # or "plugin:<name>"
    guard: Guard | None = None

    def schema(self) -> dict[str, Any]:
        """The parameters' JSON Schema (what the model is offered)."""
        return self.params.model_json_schema()

    def describe(self, sensitivity: Sensitivity | None = None) -> dict[str, Any]:
        """The ``GET /tools`` entry (``sensitivity``: the effective level after config)."""
        return {"name": self.name, "description": self.description, "schema": self.schema(),
                "sensitivity": (sensitivity or self.sensitivity).value, "source": self.source}


@dataclass(frozen=True)
class ToolResult:
    """What a call produced, whatever happened to it."""

    tool: str
    call_id: str
    status: Status
    output: Any
    duration_ms: float
    reason: str | None = None
    truncated: bool = False
    #: The error a ``failed`` call raised, so the HTTP route can answer with its code and status.
    error: Exception | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"tool": self.tool, "call_id": self.call_id, "status": self.status,
                "output": self.output, "duration_ms": round(self.duration_ms, 3),
                "reason": self.reason, "truncated": self.truncated}


class ToolFailedError(InvalidInputError):
    """The tool ran and could not do what was asked (400 ``tool_failed`` on the HTTP path)."""

    code = "tool_failed"
    hint = "The message says what went wrong; correct the arguments and call again."


class ToolTimedOutError(ToolFailedError):
    """The tool got no answer in time; that call ends with status ``timeout``."""

    code = "tool_timeout"
    hint = "The tool may be slow or stuck; call again, or raise its timeout."


def cap(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` UTF-8 bytes with a note saying so; and whether it was cut."""
    raw = text.encode()
    if len(raw) <= limit:
        return text, False
    kept = raw[:limit].decode(errors="ignore")
    return f"{kept}\n[output truncated: {len(raw)} bytes, showing the first {limit}]", True


def tool_roots(settings: Settings) -> tuple[Path, ...]:
    """Folders file tools may use: the workspace (default ``<runtime.dir>/workspace``) first."""
    workspace = settings.tools.workspace_dir or settings.runtime.dir / "workspace"
    return (workspace, *settings.tools.roots)


@dataclass(frozen=True, kw_only=True)
class ToolAuthRequest:
    """One stored approval request."""

    auth_id: str
    code: str
    session_id: str | None
    agent_id: str | None
    tool: str
    sensitivity: str
    arguments_summary: str
    arguments_hash: str
    call_id: str
    status: AuthStatus
    created_at: int
    expires_at: int
    decided_by: str | None = None
    reason: str | None = None
    remember: str | None = None
    decided_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Wire shape (``tool_name`` as in the events)."""
        return {"auth_id": self.auth_id, "code": self.code, "session_id": self.session_id,
                "agent_id": self.agent_id, "tool_name": self.tool, "sensitivity": self.sensitivity,
                "arguments_summary": self.arguments_summary, "call_id": self.call_id,
                "status": self.status, "decided_by": self.decided_by, "reason": self.reason,
                "remember": self.remember, "created_at": self.created_at,
                "expires_at": self.expires_at, "decided_at": self.decided_at}


class ToolAuthRepository(Protocol):
    """Storage port for approval requests."""

    async def insert(self, request: ToolAuthRequest) -> None:
        """Store a new pending request."""
        ...

    async def decide(self, request: ToolAuthRequest) -> None:
        """Store the final state of a request that is still pending in storage."""
        ...

    async def get(self, auth_id: str) -> ToolAuthRequest | None:
        """One request by id."""
        ...

    async def get_by_code(self, code: str) -> ToolAuthRequest | None:
        """The newest request with this code."""
        ...

    async def list_pending(self) -> list[ToolAuthRequest]:
        """Pending requests, oldest first."""
        ...
