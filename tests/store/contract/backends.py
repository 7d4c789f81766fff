"""The repository contract suite's backends: one registry of store implementations under test.

Every test in this folder talks to a store only through the repository protocols (the
``Repositories`` bundle below) and runs once per registered backend. A second backend joins by
adding one entry to ``BACKENDS``: a factory that, given a fresh temporary folder, returns a
``Backend`` (open the store migrated and empty, reopen it on the same data, close it, and the few
raw operations the audit tests need to attack the log from outside the repositories).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import asyncpg
import pytest

from aman.audit.model import AuditRepository
from aman.auth.service import KeyRepository
from aman.channels.model import ConversationRepository, CursorRepository
from aman.chat.model import ChatRepository
from aman.cluster.model import MemberRepository
from aman.cron.service import CronRepository
from aman.events.ports import DlqRepository, EventStore
from aman.heartbeat.model import HeartbeatRepository
from aman.memory.model import MemoryRepository
from aman.notifications.model import NotificationRepository
from aman.plugins.model import PluginStateRepository
from aman.skills.model import SkillRepository
from aman.soul.model import SoulRepository
from aman.store.api_keys import SqlApiKeyRepository
from aman.store.audit import SqlAuditRepository
from aman.store.chat import SqlChatRepository
from aman.store.cluster import SqliteMemberRepository
from aman.store.cron import SqlCronRepository
from aman.store.db import Database
from aman.store.dlq import SqlDlqRepository
from aman.store.events import SqliteEventLog
from aman.store.heartbeat import SqlHeartbeatRepository
from aman.store.im import SqlConversationRepository
from aman.store.im_cursors import SqlCursorRepository
from aman.store.memory import SqlMemoryRepository
from aman.store.migrate import migrate
from aman.store.notifications import SqlNotificationRepository
from aman.store.pg.cluster import PgMemberRepository
from aman.store.pg.db import PgDatabase
from aman.store.pg.events import PgEventLog
from aman.store.pg.migrate import migrate_pg
from aman.store.plugins import SqlPluginStateRepository
from aman.store.skills import SqlSkillRepository
from aman.store.soul import SqlSoulRepository
from aman.store.sql import SqlDatabase
from aman.store.tool_auth import SqlToolAuthRepository
from aman.store.usage import SqlUsageRepository
from aman.store.workflows import SqlWorkflowRepository
from aman.store.writer import BatchWriter
from aman.tools.model import ToolAuthRepository
from aman.usage.service import UsageRepository
from aman.workflows.model import WorkflowRepository


@dataclass(frozen=True)
class Repositories:
    """Every repository of one open store, typed by the protocol the services depend on."""

    events: EventStore
    dlq: DlqRepository
    audit: AuditRepository
    notifications: NotificationRepository
    skills: SkillRepository
    soul: SoulRepository
    plugins: PluginStateRepository
    workflows: WorkflowRepository
    cron: CronRepository
    chat: ChatRepository
    tool_auth: ToolAuthRepository
    conversations: ConversationRepository
    api_keys: KeyRepository
    usage: UsageRepository
    heartbeat: HeartbeatRepository
    memory: MemoryRepository
    cursors: CursorRepository
    members: MemberRepository
    #: Wait until every queued (not awaited) write is committed and visible to reads.
    settle: Callable[[], Awaitable[None]]


class Backend(Protocol):
    """One store implementation under test, on data of its own."""

    async def open(self) -> Repositories:
        """Open the store (migrated; empty the first time) and return its repositories."""
        ...

    async def reopen(self) -> Repositories:
        """Close and open again on the same data (a daemon restart)."""
        ...

    async def close(self) -> None:
        """Commit what is queued and close; safe to call twice."""
        ...

    async def edit_audit_directly(self, sql: str) -> None:
        """Run ``sql`` on the store's own data as any client of the database could; the
        backend's error propagates."""
        ...

    async def tamper_audit(self, sql: str) -> None:
        """Run ``sql`` on the audit log after lifting its append-only protection (an attacker
        with full access to the database)."""
        ...


def repositories(db: SqlDatabase, writer: BatchWriter, events: EventStore,
                 members: MemberRepository) -> Repositories:
    """The one set of repository classes on ``db`` (either database), with its event log."""
    return Repositories(
        events=events, dlq=SqlDlqRepository(db, writer), audit=SqlAuditRepository(db),
        notifications=SqlNotificationRepository(db, writer),
        skills=SqlSkillRepository(db), soul=SqlSoulRepository(db),
        plugins=SqlPluginStateRepository(db), workflows=SqlWorkflowRepository(db, writer),
        cron=SqlCronRepository(db, writer), chat=SqlChatRepository(db, writer),
        tool_auth=SqlToolAuthRepository(db, writer),
        conversations=SqlConversationRepository(db, writer),
        api_keys=SqlApiKeyRepository(db), usage=SqlUsageRepository(db, writer),
        heartbeat=SqlHeartbeatRepository(db, writer), memory=SqlMemoryRepository(db),
        cursors=SqlCursorRepository(db, writer), members=members, settle=writer.flush)


class SqliteBackend:
    """The embedded backend: a real SQLite file in the test's temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "aman.db"
        self._db: Database | None = None
        self._writer: BatchWriter | None = None

    async def open(self) -> Repositories:
        db = Database(self.path)
        await db.open()
        await migrate(db)
        writer = BatchWriter(db)
        await writer.start()
        self._db, self._writer = db, writer
        return repositories(db, writer, SqliteEventLog(db, writer),
                            SqliteMemberRepository(db, writer))

    async def reopen(self) -> Repositories:
        await self.close()
        return await self.open()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def edit_audit_directly(self, sql: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(sql)

    async def tamper_audit(self, sql: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            conn.execute(sql)


class PgBackend:
    """PostgreSQL: a fresh database on the session's throwaway server (``tests/pg.py``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._db: PgDatabase | None = None
        self._writer: BatchWriter | None = None

    async def open(self) -> Repositories:
        db = PgDatabase(self.url)
        await db.open()
        await migrate_pg(db)
        writer = BatchWriter(db)
        await writer.start()
        self._db, self._writer = db, writer
        return repositories(db, writer, PgEventLog(db, writer), PgMemberRepository(db, writer))

    async def reopen(self) -> Repositories:
        await self.close()
        return await self.open()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def _run(self, *statements: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    async def edit_audit_directly(self, sql: str) -> None:
        await self._run(sql)

    async def tamper_audit(self, sql: str) -> None:
        await self._run("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log",
                        "DROP TRIGGER IF EXISTS audit_log_no_delete ON audit_log", sql)


def _sqlite(folder: Path, request: pytest.FixtureRequest) -> Backend:
    return SqliteBackend(folder)


def _postgresql(folder: Path, request: pytest.FixtureRequest) -> Backend:
    return PgBackend(cast(Any, request.getfixturevalue("pg_server")).new_database())


#: name → factory of a backend on fresh data (a temporary folder; the test's request for the
#: fixtures a backend needs, such as the PostgreSQL server). Add a backend here and the whole
#: suite runs against it too.
BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Backend]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}
