"""The workflow errors users see, and the result of one step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aman.errors import ConflictError, NotFoundError
from aman.workflows.machine import Refusal
from aman.workflows.model import HistoryEntry, WorkflowInstance


class WorkflowNotFoundError(NotFoundError):
    """No loaded definition has that name."""

    code = "workflow_not_found"
    hint = "GET /workflows lists the loaded definitions."


class WorkflowInvalidError(ConflictError):
    """The definition file exists but does not validate."""

    code = "workflow_invalid"
    hint = "Fix the file named in the message; it reloads on save."


class InstanceNotFoundError(NotFoundError):
    """No instance has that id."""

    code = "workflow_instance_not_found"
    hint = "GET /workflow-instances lists instances."


class InvalidTransitionError(ConflictError):
    """The instance's current state does not allow the requested move."""

    code = "invalid_transition"
    hint = "GET /workflow-instance/{id} shows the current state and its history."


@dataclass(frozen=True)
class StepResult:
    """What one step did: the moves made (empty when refused) and the refusal, if any."""

    instance: WorkflowInstance
    entries: list[HistoryEntry]
    refusal: Refusal | None = None

    def to_json(self, from_state: str) -> dict[str, Any]:
        """The answer of retry/cancel: first state, final state, whether it moved, and why."""
        return {"instance_id": self.instance.id, "from_state": from_state,
                "to_state": self.instance.state, "transitioned": bool(self.entries),
                "reason": self.entries[0].reason if self.entries else (
                    self.refusal.code if self.refusal else None),
                "steps": [e.to_json() for e in self.entries],
                "instance": self.instance.to_json()}
