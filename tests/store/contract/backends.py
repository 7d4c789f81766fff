"""The repository contract suite's backends: one registry of store implementations under test.

Every test in this folder talks to a store only through the repository protocols (the
``Repositories`` bundle below) and runs once per registered backend. A second backend joins by
adding one entry to ``BACKENDS``: a factory that, given a fresh temporary folder, returns a
``Backend`` (open the store migrated and empty, reopen it on the same data, close it, and the few
raw operations the audit tests need to attack the log from outside the repositories). Each opens
the store exactly as the daemon does (``open_backend``), so the suite tests the wiring it runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
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
from aman.store.backend import StoreBackend, open_backend
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


def bundle(store: StoreBackend) -> Repositories:
    """The repositories of ``store``, as the suite sees them (through their protocols)."""
    wired = {f.name: getattr(store, f.name) for f in fields(Repositories) if f.name != "settle"}
    return Repositories(**wired, settle=store.writer.flush)


class DaemonStore:
    """The store exactly as a daemon wires it (``open_backend``): the database ``url`` names,
    else the SQLite file at ``path``."""

    def __init__(self, url: str | None, path: Path) -> None:
        self._url, self._path = url, path
        self._store: StoreBackend | None = None

    async def open(self) -> Repositories:
        store = open_backend(self._url, self._path)
        try:
            await store.open()
            await store.writer.start()
        except BaseException:
            await store.close()
            raise
        self._store = store
        return bundle(store)

    async def reopen(self) -> Repositories:
        await self.close()
        return await self.open()

    async def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.writer.stop()
            await store.close()


class SqliteBackend(DaemonStore):
    """The embedded backend: a real SQLite file in the test's temporary folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "aman.db"
        super().__init__(None, self.path)

    async def edit_audit_directly(self, sql: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute(sql)

    async def tamper_audit(self, sql: str) -> None:
        with sqlite3.connect(self.path) as conn:
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            conn.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            conn.execute(sql)


class PgBackend(DaemonStore):
    """PostgreSQL: a fresh database on the session's throwaway server (``tests/pg.py``)."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        super().__init__(url, folder / "unused.db")

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
    return PgBackend(cast(Any, request.getfixturevalue("pg_server")).new_database(), folder)


#: name → factory of a backend on fresh data (a temporary folder; the test's request for the
#: fixtures a backend needs, such as the PostgreSQL server). Add a backend here and the whole
#: suite runs against it too.
BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Backend]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}
