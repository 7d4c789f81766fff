"""Repository for notifications."""

from __future__ import annotations

import builtins
from typing import Any

from aman.notifications.model import Notification, Severity
from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter

_ACTIVE = "read = 0 AND dismissed = 0"


class SqlNotificationRepository:
    """Notifications in the ``notifications`` table, newest first by ``seq``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def insert(self, notification: Notification, *, keep: int) -> None:
        """Store (ignored when its event id already has one) and prune, in one commit.

        Pruning drops the oldest rows beyond ``keep`` but never an active critical: those wait
        for an acknowledgement however many others arrive.
        """
        n = notification
        excess = self._db.dialect.greatest(
            "0", "(SELECT COUNT(*) FROM notifications) - CAST(? AS BIGINT)")
        await self._writer.execute([
            ("INSERT INTO notifications (id, severity, category, title, message,"
             " action_route, action_label, event_id, created_at, read, dismissed)"
             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
             (n.id, n.severity.value, n.category, n.title, n.message, n.action_route,
              n.action_label, n.event_id, n.created_at_ms, int(n.read), int(n.dismissed))),
            ("DELETE FROM notifications WHERE seq IN (SELECT seq FROM notifications"
             " WHERE NOT (severity = 'critical' AND read = 0 AND dismissed = 0) ORDER BY seq"
             f" LIMIT {excess})",
             (keep,)),
        ])

    async def get(self, notification_id: str) -> Notification | None:
        """One notification."""
        row = await self._db.fetchone("SELECT * FROM notifications WHERE id = ?",
                                      (notification_id,))
        return _notification(row) if row else None

    async def get_by_event(self, event_id: str) -> Notification | None:
        """The notification caused by ``event_id``."""
        row = await self._db.fetchone("SELECT * FROM notifications WHERE event_id = ?",
                                      (event_id,))
        return _notification(row) if row else None

    async def list(self, *, active_only: bool, severity: Severity | None, limit: int,
                   offset: int) -> builtins.list[Notification]:
        """Newest first."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if active_only:
            clauses.append(_ACTIVE)
        if severity is not None:
            clauses.append("severity = ?")
            params.append(severity.value)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        rows = await self._db.fetchall(
            f"SELECT * FROM notifications {where}ORDER BY seq DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_notification(row) for row in rows]

    async def unread_count(self) -> int:
        """Active notifications."""
        row = await self._db.fetchone(f"SELECT COUNT(*) AS n FROM notifications WHERE {_ACTIVE}")
        return int(row["n"]) if row else 0

    async def mark_read(self, notification_id: str) -> None:
        """Acknowledge one notification."""
        await self._writer.execute([
            ("UPDATE notifications SET read = 1 WHERE id = ?", (notification_id,)),
        ])

    async def mark_dismissed(self, notification_id: str) -> None:
        """Dismiss one notification."""
        await self._writer.execute([
            ("UPDATE notifications SET dismissed = 1 WHERE id = ?", (notification_id,)),
        ])

    async def dismiss_all(self) -> int:
        """Dismiss every active non-critical notification; return how many.

        The ``seq`` bound keeps the rows updated to the rows counted even if one arrives in
        between.
        """
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n, MAX(seq) AS last FROM notifications"
            f" WHERE {_ACTIVE} AND severity != 'critical'"
        )
        if row is None or not row["n"]:
            return 0
        await self._writer.execute([
            ("UPDATE notifications SET dismissed = 1"
             f" WHERE {_ACTIVE} AND severity != 'critical' AND seq <= ?", (row["last"],)),
        ])
        return int(row["n"])


def _notification(row: Row) -> Notification:
    return Notification(
        id=row["id"],
        severity=Severity(row["severity"]),
        category=row["category"],
        title=row["title"],
        message=row["message"],
        created_at_ms=int(row["created_at"]),
        action_route=row["action_route"],
        action_label=row["action_label"],
        event_id=row["event_id"],
        read=bool(row["read"]),
        dismissed=bool(row["dismissed"]),
    )
