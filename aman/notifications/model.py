"""What a notification is, and the port a store implements to keep them.

A notification is *active* until it is acknowledged (any severity) or dismissed (not for
criticals); the unread count is the number of active ones.
"""

from __future__ import annotations

import builtins
import enum
from dataclasses import dataclass
from typing import Any, Protocol


class Severity(enum.Enum):
    """How loud a notification is; criticals must be acknowledged, never dismissed."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One notification."""

    id: str
    severity: Severity
    category: str
    title: str
    message: str
    created_at_ms: int
    action_route: str | None = None
    action_label: str | None = None
    event_id: str | None = None
    read: bool = False
    dismissed: bool = False

    @property
    def dismissible(self) -> bool:
        """Criticals are not dismissible (they need an ack)."""
        return self.severity is not Severity.CRITICAL

    @property
    def active(self) -> bool:
        """Neither acknowledged nor dismissed: counts as unread."""
        return not (self.read or self.dismissed)

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "id": self.id,
            "severity": self.severity.value,
            "category": self.category,
            "title": self.title,
            "message": self.message,
            "action_route": self.action_route,
            "action_label": self.action_label,
            "event_id": self.event_id,
            "created_at_ms": self.created_at_ms,
            "read": self.read,
            "dismissed": self.dismissed,
            "dismissible": self.dismissible,
            "active": self.active,
        }


class NotificationRepository(Protocol):
    """Storage port for notifications."""

    async def insert(self, notification: Notification, *, keep: int) -> None:
        """Store durably (ignored if one exists for the same event id); prune beyond ``keep``."""
        ...

    async def get(self, notification_id: str) -> Notification | None:
        """One notification."""
        ...

    async def get_by_event(self, event_id: str) -> Notification | None:
        """The notification caused by ``event_id``."""
        ...

    async def list(self, *, active_only: bool, severity: Severity | None, limit: int,
                   offset: int) -> builtins.list[Notification]:
        """Newest first."""
        ...

    async def unread_count(self) -> int:
        """Active notifications."""
        ...

    async def mark_read(self, notification_id: str) -> None:
        """Acknowledge one notification durably."""
        ...

    async def mark_dismissed(self, notification_id: str) -> None:
        """Dismiss one notification durably."""
        ...

    async def dismiss_all(self) -> int:
        """Dismiss every active dismissible notification; return how many."""
        ...
