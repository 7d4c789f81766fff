"""Repository for workflows: definition versions, instances and transition history.

Instance writes go through the group-committing writer and are awaited, so a transition is
committed before the bus records its delivery as done: a crash in between redelivers the event,
and the (instance, event id) check in the engine makes the redelivery a no-op.
"""

from __future__ import annotations

import json
from typing import Any

from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter
from aman.workflows.model import DefinitionRow, HistoryEntry, Wake, WorkflowInstance

_UPSERT = (
    "INSERT INTO workflow_instances (id, workflow, definition_hash, definition_version, state,"
    " status, wake_at, wake_kind, trigger_event_id, body, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(id) DO UPDATE SET state = excluded.state, status = excluded.status,"
    " wake_at = excluded.wake_at, wake_kind = excluded.wake_kind, body = excluded.body,"
    " updated_at = excluded.updated_at")
_HISTORY = ("INSERT INTO workflow_history (instance_id, from_state, to_state, reason, event_id,"
            " event_type, detail, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
#: Transaction lock key numbering definition versions: daemons booting at once on one database
#: record the same definitions together.
DEFINITIONS_LOCK = 0x616D616E_0003
_BODY_FIELDS = ("data", "last_active_state", "total_retry_count", "session_retry_count",
                "auto_retry_attempts", "last_error", "failed_event", "state_entered_at",
                "last_event_at", "started_by", "recent_events")


class SqlWorkflowRepository:
    """Tables ``workflow_definitions``, ``workflow_instances`` and ``workflow_history``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    # --- definitions ---------------------------------------------------------------------

    async def record_definition(self, name: str, content_hash: str, body: dict[str, Any],
                                path: str | None, now_ms: int) -> int:
        """Store a definition version if new; return its version number.

        Where several daemons may share the database, a transaction lock makes them take turns,
        so two recording the same definition (or two new ones) never take one version number.
        """
        lock = self._db.dialect.transaction_lock
        async with self._db.transaction() as tx:
            if lock is not None:
                await tx.execute(lock, (DEFINITIONS_LOCK,))
            row = await tx.fetchone("SELECT version FROM workflow_definitions WHERE name = ?"
                                    " AND hash = ?", (name, content_hash))
            if row is not None:
                return int(row["version"])
            top = await tx.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM"
                                    " workflow_definitions WHERE name = ?", (name,))
            version = int(top["v"] if top else 0) + 1
            await tx.execute(
                "INSERT INTO workflow_definitions (name, hash, version, body, path, first_seen)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, content_hash, version, json.dumps(body), path, now_ms))
            return version

    async def definition(self, name: str, content_hash: str) -> DefinitionRow | None:
        """A stored version by hash (an instance's pinned definition)."""
        row = await self._db.fetchone("SELECT name, hash, version, body FROM workflow_definitions"
                                      " WHERE name = ? AND hash = ?", (name, content_hash))
        if row is None:
            return None
        return DefinitionRow(row["name"], row["hash"], int(row["version"]), json.loads(row["body"]))

    # --- instances -----------------------------------------------------------------------

    async def save(self, instance: WorkflowInstance, new_history: list[HistoryEntry], *,
                   trigger_event_id: str | None = None, wait: bool = True) -> None:
        """Upsert the instance with its new history rows in one batch.

        ``wait=False`` queues them without waiting for the commit: a bus handler may, because
        the writer commits in order, so its delivery record can never be committed before them.
        """
        statements: list[tuple[str, tuple[Any, ...]]] = [(_UPSERT, _instance_params(
            instance, trigger_event_id))]
        statements += [(_HISTORY, (instance.id, h.from_state, h.to_state, h.reason, h.event_id,
                                   h.event_type, json.dumps(h.detail), h.at))
                       for h in new_history]
        if wait:
            await self._writer.execute(statements)
            return
        for sql, params in statements:
            self._writer.submit(sql, params)

    async def get(self, instance_id: str, *, with_history: bool = False) -> WorkflowInstance | None:
        """One instance, optionally with its full history."""
        row = await self._db.fetchone("SELECT * FROM workflow_instances WHERE id = ?",
                                      (instance_id,))
        if row is None:
            return None
        instance = _instance(row)
        if with_history:
            rows = await self._db.fetchall(
                "SELECT * FROM workflow_history WHERE instance_id = ? ORDER BY seq", (instance_id,))
            instance.history = [_history(r) for r in rows]
        return instance

    async def by_trigger(self, workflow: str, event_id: str) -> str | None:
        """The instance of ``workflow`` a start_on event already created, if any."""
        row = await self._db.fetchone(
            "SELECT id FROM workflow_instances WHERE workflow = ? AND trigger_event_id = ?",
            (workflow, event_id))
        return None if row is None else str(row["id"])

    async def page(self, *, workflow: str | None, state: str | None, after: str | None,
                   limit: int) -> list[WorkflowInstance]:
        """Instances in id (creation) order after the cursor id."""
        clauses, params = [], []
        for column, value in (("workflow", workflow), ("state", state)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            clauses.append("id > ?")
            params.append(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._db.fetchall(
            f"SELECT * FROM workflow_instances{where} ORDER BY id LIMIT ?", (*params, limit))
        return [_instance(r) for r in rows]

    async def wakes(self) -> list[Wake]:
        """Every pending timer (boot recovery)."""
        rows = await self._db.fetchall(
            "SELECT id, wake_at, wake_kind FROM workflow_instances WHERE wake_at IS NOT NULL")
        return [Wake(r["id"], int(r["wake_at"]), str(r["wake_kind"])) for r in rows]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Instances per workflow and status (for the definitions listing)."""
        rows = await self._db.fetchall("SELECT workflow, status, COUNT(*) AS n FROM"
                                       " workflow_instances GROUP BY workflow, status")
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(row["workflow"], {})[row["status"]] = int(row["n"])
        return counts


def _instance_params(instance: WorkflowInstance, trigger_event_id: str | None) -> tuple[Any, ...]:
    body = {name: getattr(instance, name) for name in _BODY_FIELDS}
    return (instance.id, instance.workflow, instance.definition_hash, instance.definition_version,
            instance.state, instance.status, instance.wake_at, instance.wake_kind,
            trigger_event_id, json.dumps(body), instance.created_at, instance.updated_at)


def _instance(row: Row) -> WorkflowInstance:
    body = json.loads(row["body"])
    return WorkflowInstance(
        id=row["id"], workflow=row["workflow"], definition_hash=row["definition_hash"],
        definition_version=int(row["definition_version"]), state=row["state"],
        status=row["status"], wake_at=row["wake_at"], wake_kind=row["wake_kind"],
        created_at=int(row["created_at"]), updated_at=int(row["updated_at"]),
        **{name: body.get(name) for name in _BODY_FIELDS if name in body},
    )


def _history(row: Row) -> HistoryEntry:
    return HistoryEntry(row["from_state"], row["to_state"], row["reason"], int(row["at"]),
                        row["event_id"], row["event_type"], json.loads(row["detail"]))
