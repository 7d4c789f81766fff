"""Workflow instances as stored: the instance, its transition history, the definition versions
they are pinned to, their pending timers, and the port a store implements to keep them."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["active", "finished"]
WakeKind = Literal["timeout", "auto_retry"]


@dataclass
class HistoryEntry:
    """One applied transition."""

    from_state: str | None
    to_state: str
    reason: str
    at: int
    event_id: str | None = None
    event_type: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {"from": self.from_state, "to": self.to_state, "reason": self.reason,
                "event_id": self.event_id, "event_type": self.event_type, "at": self.at,
                "detail": self.detail}


@dataclass
class WorkflowInstance:
    """A running (or finished) workflow; every field is persisted."""

    id: str
    workflow: str
    definition_hash: str
    definition_version: int
    state: str
    data: dict[str, Any]
    created_at: int
    state_entered_at: int
    updated_at: int
    status: Status = "active"
    last_active_state: str | None = None
    total_retry_count: int = 0
    session_retry_count: int = 0
    auto_retry_attempts: int = 0
    last_error: str | None = None
    #: The event whose action failed; a retry replays it (id, event_type, payload).
    failed_event: dict[str, Any] | None = None
    wake_at: int | None = None
    wake_kind: WakeKind | None = None
    last_event_at: int | None = None
    started_by: str | None = None
    #: Ids of the last events that moved it: a redelivery after a crash is recognised and skipped.
    recent_events: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)

    def copy(self) -> WorkflowInstance:
        """A deep copy, so a failed apply leaves the original untouched."""
        return copy.deepcopy(self)

    def to_json(self, *, with_history: bool = False) -> dict[str, Any]:
        """Wire shape of GET /workflow-instance/{id} (history only when asked)."""
        body: dict[str, Any] = {
            "id": self.id, "workflow_name": self.workflow, "current_state": self.state,
            "status": self.status, "last_active_state": self.last_active_state,
            "data": self.data, "total_retry_count": self.total_retry_count,
            "session_retry_count": self.session_retry_count,
            "auto_retry_attempts": self.auto_retry_attempts, "last_error": self.last_error,
            "has_pending_retry": self.failed_event is not None,
            "definition_version": self.definition_version,
            "definition_hash": self.definition_hash,
            "state_entered_at": self.state_entered_at,
            "timer": ({"kind": self.wake_kind, "due_at": self.wake_at}
                      if self.wake_at is not None else None),
            "last_event_at": self.last_event_at, "started_by": self.started_by,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }
        if with_history:
            body["history"] = [h.to_json() for h in self.history]
        return body


@dataclass(frozen=True)
class DefinitionRow:
    """One stored version of a definition."""

    name: str
    hash: str
    version: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Wake:
    """A pending timer of one instance."""

    instance_id: str
    due_at: int
    kind: str


class WorkflowRepository(Protocol):
    """Storage port for workflows: definition versions, instances and their history."""

    async def record_definition(self, name: str, content_hash: str, body: dict[str, Any],
                                path: str | None, now_ms: int) -> int:
        """Store a definition version if its hash is new; return its version number (1, 2, …)."""
        ...

    async def definition(self, name: str, content_hash: str) -> DefinitionRow | None:
        """A stored version by hash (an instance's pinned definition)."""
        ...

    async def save(self, instance: WorkflowInstance, new_history: list[HistoryEntry], *,
                   trigger_event_id: str | None = None, wait: bool = True) -> None:
        """Upsert the instance and append its new history rows together; ``wait=False`` queues
        them, committed in order before anything written after them."""
        ...

    async def get(self, instance_id: str, *, with_history: bool = False) -> WorkflowInstance | None:
        """One instance, optionally with its full history in order."""
        ...

    async def by_trigger(self, workflow: str, event_id: str) -> str | None:
        """The instance of ``workflow`` that ``event_id`` started, if any."""
        ...

    async def page(self, *, workflow: str | None, state: str | None, after: str | None,
                   limit: int) -> list[WorkflowInstance]:
        """Instances in id (creation) order after the cursor id."""
        ...

    async def wakes(self) -> list[Wake]:
        """Every pending timer."""
        ...

    async def counts(self) -> dict[str, dict[str, int]]:
        """Instances per workflow and status."""
        ...
