"""The store a daemon runs on: one database, its group-committing writer and every repository.

``open_backend`` picks the database ``store.url`` names (the embedded SQLite file, or a
PostgreSQL server); the repositories are the same classes on both, their SQL differing only
where the database's dialect says. The composition root wires them into the services, which see
only their ports. Both databases pass the same repository contract suite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aman.store.api_keys import SqlApiKeyRepository
from aman.store.audit import SqlAuditRepository
from aman.store.chat import SqlChatRepository
from aman.store.cluster import SoloCoordination, SqlMemberRepository
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
from aman.store.pg.cluster import PgCoordination
from aman.store.pg.db import PgDatabase, describe
from aman.store.pg.events import PgEventLog
from aman.store.pg.migrate import migrate_pg
from aman.store.plugins import SqlPluginStateRepository
from aman.store.skills import SqlSkillRepository
from aman.store.soul import SqlSoulRepository
from aman.store.tool_auth import SqlToolAuthRepository
from aman.store.usage import SqlUsageRepository
from aman.store.workflows import SqlWorkflowRepository
from aman.store.writer import BatchWriter

log = logging.getLogger(__name__)

__all__ = ["StoreBackend", "open_backend"]


@dataclass(frozen=True)
class StoreBackend:
    """Every repository of one store; the repositories run on either database through its
    dialect; only the event log and the coordination have one class per database."""

    kind: str  #: "sqlite" or "postgresql"
    where: str  #: the file or the URL without its password, for status and logs
    db: Database | PgDatabase
    writer: BatchWriter
    events: SqliteEventLog | PgEventLog
    dlq: SqlDlqRepository
    audit: SqlAuditRepository
    notifications: SqlNotificationRepository
    skills: SqlSkillRepository
    soul: SqlSoulRepository
    plugins: SqlPluginStateRepository
    workflows: SqlWorkflowRepository
    cron: SqlCronRepository
    chat: SqlChatRepository
    tool_auth: SqlToolAuthRepository
    conversations: SqlConversationRepository
    api_keys: SqlApiKeyRepository
    usage: SqlUsageRepository
    heartbeat: SqlHeartbeatRepository
    memory: SqlMemoryRepository
    cursors: SqlCursorRepository
    members: SqlMemberRepository
    coordination: SoloCoordination | PgCoordination

    async def open(self) -> int:
        """Connect and bring the schema up to date; return the schema version in force."""
        await self.db.open()
        if isinstance(self.db, PgDatabase):
            version = await migrate_pg(self.db)
        else:
            version = await migrate(self.db)
        log.info("store %s (%s) at schema version %d", self.where, self.kind, version)
        return version

    async def close(self) -> None:
        """Close the connections; safe to call twice and before ``open`` finished."""
        await self.db.close()


def open_backend(url: str | None, sqlite_path: Path, *, daemon: str = "") -> StoreBackend:
    """The store ``url`` names (PostgreSQL), else the SQLite file; nothing connects yet.
    ``daemon`` names this daemon in the claims it makes on events."""
    if url is not None and url.startswith(("postgresql://", "postgres://")):
        return _postgresql(url, daemon)
    return _sqlite(sqlite_path, daemon)


def _sqlite(path: Path, daemon: str) -> StoreBackend:
    db = Database(path)
    writer = BatchWriter(db)
    return _backend("sqlite", str(path), db, writer, SqliteEventLog(db, writer, claimant=daemon),
                    SoloCoordination())


def _postgresql(url: str, daemon: str) -> StoreBackend:
    db = PgDatabase(url)
    writer = BatchWriter(db)
    return _backend("postgresql", describe(url), db, writer,
                    PgEventLog(db, writer, claimant=daemon), PgCoordination(url))


def _backend(kind: str, where: str, db: Database | PgDatabase, writer: BatchWriter,
             events: SqliteEventLog | PgEventLog,
             coordination: SoloCoordination | PgCoordination) -> StoreBackend:
    """The one set of repositories, on ``db``."""
    return StoreBackend(
        kind=kind, where=where, db=db, writer=writer, events=events,
        dlq=SqlDlqRepository(db, writer), audit=SqlAuditRepository(db),
        notifications=SqlNotificationRepository(db, writer),
        skills=SqlSkillRepository(db), soul=SqlSoulRepository(db),
        plugins=SqlPluginStateRepository(db), workflows=SqlWorkflowRepository(db, writer),
        cron=SqlCronRepository(db, writer), chat=SqlChatRepository(db, writer),
        tool_auth=SqlToolAuthRepository(db, writer),
        conversations=SqlConversationRepository(db, writer),
        api_keys=SqlApiKeyRepository(db), usage=SqlUsageRepository(db, writer),
        heartbeat=SqlHeartbeatRepository(db, writer), memory=SqlMemoryRepository(db),
        cursors=SqlCursorRepository(db, writer), members=SqlMemberRepository(db, writer),
        coordination=coordination)
