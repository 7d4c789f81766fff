"""ApprovalService: asks a human before a sensitive tool call runs, and remembers per session.

Rules: a tool in ``tools.auto_approve`` or of low sensitivity runs at once; medium asks
once per session for the same tool and the same arguments (an answer with ``remember: "session"``
approves the tool for the rest of the session whatever its arguments); high asks on every call and
``remember`` never applies to it. A request is stored, announced with ``tool_auth_required`` and
waits ``tools.approval_timeout_sec`` on its own future, so other sessions never wait for it. Every
decision (answer, timeout, cancel, expiry) is audited and announced with ``tool_auth_resolved``.
Session memory lives in this process only: after a restart the daemon asks again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from aman.audit.log import AuditLog
from aman.clock import Clock
from aman.errors import ConflictError, NotFoundError
from aman.events.ports import FactEmitter
from aman.events.types import EventTable
from aman.ids import uuid7
from aman.tools.model import Sensitivity, ToolAuthRepository, ToolAuthRequest

if TYPE_CHECKING:
    from aman.config.agents import ToolsSettings

Outcome = Literal["approved", "denied", "timeout", "cancelled"]
Remember = Literal["session"]

TOOL_AUTH_REQUIRED = "tool_auth_required"
TOOL_AUTH_RESOLVED = "tool_auth_resolved"
#: Every type approvals emit, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (TOOL_AUTH_REQUIRED, "A tool call waits for a human's approval; payload has the code."),
    (TOOL_AUTH_RESOLVED, "An approval request was answered, timed out or cancelled."),
)
SOURCE = "tools"
#: The summary an operator reads in the approval prompt is capped, so a prompt stays readable.
SUMMARY_LIMIT = 400
#: Codes are read aloud and typed on phones: no 0/O, 1/I/L look-alikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
#: Argument keys whose values never reach the summary (stored, sent on the bus, shown in the UI).
_SECRET_KEY = re.compile("auth|token|secret|passw|api[_-]?key|cookie|credential", re.IGNORECASE)
_MASK = "***"


class AuthNotFoundError(NotFoundError):
    """No pending approval request has this auth_id or code (never existed, timed out, expired)."""

    code = "auth_not_found"
    hint = "GET /tool-auth/pending lists the requests that can still be answered."


class AlreadyAnsweredError(ConflictError):
    """The approval request was answered before; the first answer stands."""

    code = "already_answered"
    hint = "Nothing was changed; the request's state in this error's message is final."


@dataclass(frozen=True)
class Decision:
    """The answer ``request`` gives its caller: what, who decided and why."""

    outcome: Outcome
    decided_by: str  # "auto", "session", an operator name or "system"
    reason: str
    auth_id: str | None = None  # None when nobody was asked

    @property
    def approved(self) -> bool:
        """Whether the call may run."""
        return self.outcome == "approved"

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"outcome": self.outcome, "decided_by": self.decided_by, "reason": self.reason,
                "auth_id": self.auth_id}


@dataclass
class _Waiting:
    request: ToolAuthRequest
    future: asyncio.Future[Decision]
    decided: bool = False


@dataclass
class _SessionMemory:
    tools: set[str] = field(default_factory=set)  # remember: "session"
    calls: set[tuple[str, str]] = field(default_factory=set)  # (tool, arguments hash)


def canonical_arguments(arguments: dict[str, Any]) -> str:
    """One JSON text per set of arguments, whatever their key order."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def summarize(arguments: dict[str, Any], limit: int = SUMMARY_LIMIT) -> str:
    """Canonical JSON with secret-looking values masked, cut to ``limit`` characters."""
    text = canonical_arguments(_masked(arguments))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _MASK if _SECRET_KEY.search(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


class ApprovalService:
    """Pending approval requests, their answers, timeouts and per-session memory."""

    def __init__(self, repo: ToolAuthRepository, bus: FactEmitter, audit: AuditLog, clock: Clock,
                 settings: Callable[[], ToolsSettings]) -> None:
        self._repo = repo
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._waiting: dict[str, _Waiting] = {}
        self._memory: dict[str, _SessionMemory] = {}
        self._finishing: set[asyncio.Task[object]] = set()
        self._running = False

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> int:
        """Expire what a previous run left pending (their turns ended with it); return how many."""
        leftovers = await self._repo.list_pending()
        for request in leftovers:
            await self._record(replace(
                request, status="expired", decided_by="system", decided_at=self._clock.now_ms(),
                reason="the daemon restarted while this request was pending"))
        self._running = True
        return len(leftovers)

    async def stop(self) -> None:
        """Cancel every pending request: its caller gets ``cancelled``."""
        self._running = False
        for waiting in list(self._waiting.values()):
            await self._finish(waiting, "cancelled", "system", "the daemon is stopping")
        if self._finishing:
            await asyncio.gather(*self._finishing, return_exceptions=True)
        self._memory.clear()

    # --- asking --------------------------------------------------------------------------

    async def request(self, *, tool: str, arguments: dict[str, Any], sensitivity: Sensitivity,
                      call_id: str, session_id: str | None, agent_id: str | None) -> Decision:
        """Decide whether a call may run, asking a human when its rules say so.

        ``sensitivity`` is the effective level (config overrides applied by the caller). Without a
        ``session_id`` nothing is remembered, so a medium call asks every time.
        """
        settings = self._settings()
        if tool in settings.auto_approve:
            return Decision("approved", "auto", f"{tool} is listed in tools.auto_approve")
        if sensitivity is Sensitivity.LOW:
            return Decision("approved", "auto", f"{tool} has low sensitivity")
        digest = hashlib.sha256(canonical_arguments(arguments).encode()).hexdigest()
        memory = self._memory.get(session_id) if session_id else None
        if sensitivity is Sensitivity.MEDIUM and memory is not None:
            if tool in memory.tools:
                return Decision("approved", "session", f"{tool} was approved for this session")
            if (tool, digest) in memory.calls:
                return Decision("approved", "session",
                                "the same call was approved earlier in this session")
        if not self._running:
            return Decision("cancelled", "system", "approvals are not running (daemon stopping)")
        now = self._clock.now_ms()
        timeout = settings.approval_timeout_sec
        request = ToolAuthRequest(
            auth_id=uuid7(), code=self._new_code(), session_id=session_id, agent_id=agent_id,
            tool=tool, sensitivity=sensitivity.value, arguments_summary=summarize(arguments),
            arguments_hash=digest, call_id=call_id, status="pending", created_at=now,
            expires_at=now + int(timeout * 1000))
        await self._repo.insert(request)
        waiting = _Waiting(request, asyncio.get_running_loop().create_future())
        self._waiting[request.auth_id] = waiting
        self._emit(TOOL_AUTH_REQUIRED, request,
                   arguments_summary=request.arguments_summary, expires_at=request.expires_at,
                   code=request.code, sensitivity=request.sensitivity)
        try:
            await asyncio.wait({waiting.future}, timeout=timeout)
        except asyncio.CancelledError:
            # The caller's turn was stopped: the request must not stay pending behind it.
            task = asyncio.get_running_loop().create_task(self._finish(
                waiting, "cancelled", "system", "the waiting call was cancelled"))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
            raise
        if not waiting.future.done():
            await self._finish(waiting, "timeout", "system",
                               f"no answer within {timeout:g}s (tools.approval_timeout_sec)")
        return await waiting.future

    # --- answering -----------------------------------------------------------------------

    async def respond(self, auth_id_or_code: str, approved: bool, remember: Remember | None,
                      operator: str) -> dict[str, Any]:
        """Answer a pending request by auth_id or code; return its final state.

        Raises ``AuthNotFoundError`` (unknown, timed out, cancelled or expired) or
        ``AlreadyAnsweredError`` (approved or denied before); neither changes anything.
        """
        waiting = self._find_waiting(auth_id_or_code)
        if waiting is None or waiting.decided:
            await self._refuse(auth_id_or_code)
        assert waiting is not None
        remembered = False
        request = waiting.request
        if approved and request.session_id and request.sensitivity == Sensitivity.MEDIUM.value:
            memory = self._memory.setdefault(request.session_id, _SessionMemory())
            memory.calls.add((request.tool, request.arguments_hash))
            if remember == "session":
                memory.tools.add(request.tool)
                remembered = True
        outcome: Outcome = "approved" if approved else "denied"
        reason = f"{outcome} by {operator}" + (" for the rest of the session" if remembered else "")
        final = await self._finish(waiting, outcome, operator, reason,
                                   remember="session" if remembered else None)
        return {**final.to_json(), "remembered": remembered}

    async def cancel_session(self, session_id: str) -> int:
        """Cancel every pending request of a stopped session; return how many."""
        mine = [w for w in self._waiting.values() if w.request.session_id == session_id]
        for waiting in mine:
            await self._finish(waiting, "cancelled", "system", "the session was stopped")
        return len(mine)

    def forget_session(self, session_id: str) -> None:
        """Drop what a closed or deleted session approved."""
        self._memory.pop(session_id, None)

    async def pending(self) -> list[dict[str, Any]]:
        """Requests that can still be answered, oldest first."""
        return [r.to_json() for r in await self._repo.list_pending()
                if r.auth_id in self._waiting and not self._waiting[r.auth_id].decided]

    def session_of(self, auth_id_or_code: str) -> str | None:
        """The session of a pending request (IM answers must come from that session's chat)."""
        waiting = self._find_waiting(auth_id_or_code)
        return waiting.request.session_id if waiting is not None else None

    # --- internals -----------------------------------------------------------------------

    def _find_waiting(self, key: str) -> _Waiting | None:
        key = key.strip()
        found = self._waiting.get(key)
        if found is None and len(key) == CODE_LENGTH:
            code = key.upper()
            found = next((w for w in self._waiting.values() if w.request.code == code), None)
        return found

    async def _refuse(self, key: str) -> None:
        key = key.strip()
        waiting = self._find_waiting(key)
        stored = waiting.request if waiting else await self._repo.get(key)
        if stored is None and len(key) == CODE_LENGTH:
            stored = await self._repo.get_by_code(key.upper())
        if stored is not None and stored.status in ("approved", "denied"):
            raise AlreadyAnsweredError(
                f"approval request {key!r} was already {stored.status} by {stored.decided_by}",
                details={"auth_id": stored.auth_id, "status": stored.status,
                         "decided_by": stored.decided_by})
        why = f" (it is {stored.status}: {stored.reason})" if stored is not None else ""
        raise AuthNotFoundError(f"no pending approval request {key!r}{why}")

    async def _finish(self, waiting: _Waiting, outcome: Outcome, decided_by: str, reason: str,
                      remember: str | None = None) -> ToolAuthRequest:
        # Marked before the first await, so a concurrent answer or timeout sees it is taken.
        if waiting.decided:
            await asyncio.shield(waiting.future)
            return waiting.request
        waiting.decided = True
        final = replace(waiting.request, status=outcome, decided_by=decided_by, reason=reason,
                        remember=remember, decided_at=self._clock.now_ms())
        waiting.request = final
        try:
            await self._record(final)
        finally:
            self._waiting.pop(final.auth_id, None)
            if not waiting.future.done():
                waiting.future.set_result(Decision(outcome, decided_by, reason, final.auth_id))
        return final

    async def _record(self, final: ToolAuthRequest) -> None:
        """Store, audit and announce a final state."""
        await self._repo.decide(final)
        action = {"approved": "tool_auth.approve", "denied": "tool_auth.deny"}.get(
            final.status, f"tool_auth.{final.status}")
        await self._audit.record(
            action, operator=final.decided_by or "system", target=f"tool_auth:{final.auth_id}",
            detail={"tool": final.tool, "session_id": final.session_id, "code": final.code,
                    "agent_id": final.agent_id, "call_id": final.call_id,
                    "reason": final.reason, "remember": final.remember})
        self._emit(TOOL_AUTH_RESOLVED, final, outcome=final.status, decided_by=final.decided_by,
                   reason=final.reason, remember=final.remember)

    def _emit(self, event_type: str, request: ToolAuthRequest, **extra: Any) -> None:
        payload = {"auth_id": request.auth_id, "session_id": request.session_id,
                   "agent_id": request.agent_id, "tool_name": request.tool,
                   "call_id": request.call_id, **extra}
        self._bus.emit(event_type, payload, source=SOURCE)

    def _new_code(self) -> str:
        taken = {w.request.code for w in self._waiting.values()}
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in taken:
                return code
