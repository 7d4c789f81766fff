"""The store a daemon runs on: one database, its group-committing writer and every repository.

``open_backend`` picks the implementation ``store.url`` names (the embedded SQLite file, or a
PostgreSQL server); the composition root wires the repositories into the services, which see
only their ports. Both implementations pass the same repository contract suite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aman.store.api_keys import SqliteApiKeyRepository
from aman.store.audit import SqliteAuditRepository
from aman.store.chat import SqliteChatRepository
from aman.store.cluster import SoloCoordination, SqliteMemberRepository
from aman.store.cron import SqliteCronRepository
from aman.store.db import Database
from aman.store.dlq import SqliteDlqRepository
from aman.store.events import SqliteEventLog
from aman.store.heartbeat import SqliteHeartbeatRepository
from aman.store.im import SqliteConversationRepository
from aman.store.im_cursors import SqliteCursorRepository
from aman.store.memory import SqliteMemoryRepository
from aman.store.migrate import migrate
from aman.store.notifications import SqliteNotificationRepository
from aman.store.pg.api_keys import PgApiKeyRepository
from aman.store.pg.audit import PgAuditRepository
from aman.store.pg.chat import PgChatRepository
from aman.store.pg.cluster import PgCoordination, PgMemberRepository
from aman.store.pg.cron import PgCronRepository
from aman.store.pg.db import PgDatabase, describe
from aman.store.pg.dlq import PgDlqRepository
from aman.store.pg.events import PgEventLog
from aman.store.pg.heartbeat import PgHeartbeatRepository
from aman.store.pg.im import PgConversationRepository
from aman.store.pg.im_cursors import PgCursorRepository
from aman.store.pg.memory import PgMemoryRepository
from aman.store.pg.migrate import migrate_pg
from aman.store.pg.notifications import PgNotificationRepository
from aman.store.pg.plugins import PgPluginStateRepository
from aman.store.pg.skills import PgSkillRepository
from aman.store.pg.soul import PgSoulRepository
from aman.store.pg.tool_auth import PgToolAuthRepository
from aman.store.pg.usage import PgUsageRepository
from aman.store.pg.workflows import PgWorkflowRepository
from aman.store.plugins import SqlitePluginStateRepository
from aman.store.skills import SqliteSkillRepository
from aman.store.soul import SqliteSoulRepository
from aman.store.tool_auth import SqliteToolAuthRepository
from aman.store.usage import SqliteUsageRepository
from aman.store.workflows import SqliteWorkflowRepository
from aman.store.writer import BatchWriter

log = logging.getLogger(__name__)

__all__ = ["StoreBackend", "open_backend"]


@dataclass(frozen=True)
class StoreBackend:
    """Every repository of one store, typed by the implementations the daemon can run on."""

    kind: str  #: "sqlite" or "postgresql"
    where: str  #: the file or the URL without its password, for status and logs
    db: Database | PgDatabase
    writer: BatchWriter
    events: SqliteEventLog | PgEventLog
    dlq: SqliteDlqRepository | PgDlqRepository
    audit: SqliteAuditRepository | PgAuditRepository
    notifications: SqliteNotificationRepository | PgNotificationRepository
    skills: SqliteSkillRepository | PgSkillRepository
    soul: SqliteSoulRepository | PgSoulRepository
    plugins: SqlitePluginStateRepository | PgPluginStateRepository
    workflows: SqliteWorkflowRepository | PgWorkflowRepository
    cron: SqliteCronRepository | PgCronRepository
    chat: SqliteChatRepository | PgChatRepository
    tool_auth: SqliteToolAuthRepository | PgToolAuthRepository
    conversations: SqliteConversationRepository | PgConversationRepository
    api_keys: SqliteApiKeyRepository | PgApiKeyRepository
    usage: SqliteUsageRepository | PgUsageRepository
    heartbeat: SqliteHeartbeatRepository | PgHeartbeatRepository
    memory: SqliteMemoryRepository | PgMemoryRepository
    cursors: SqliteCursorRepository | PgCursorRepository
    members: SqliteMemberRepository | PgMemberRepository
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
    return StoreBackend(
        kind="sqlite", where=str(path), db=db, writer=writer,
        events=SqliteEventLog(db, writer, claimant=daemon), dlq=SqliteDlqRepository(db, writer),
        audit=SqliteAuditRepository(db),
        notifications=SqliteNotificationRepository(db, writer),
        skills=SqliteSkillRepository(db), soul=SqliteSoulRepository(db),
        plugins=SqlitePluginStateRepository(db), workflows=SqliteWorkflowRepository(db, writer),
        cron=SqliteCronRepository(db, writer), chat=SqliteChatRepository(db, writer),
        tool_auth=SqliteToolAuthRepository(db, writer),
        conversations=SqliteConversationRepository(db, writer),
        api_keys=SqliteApiKeyRepository(db), usage=SqliteUsageRepository(db, writer),
        heartbeat=SqliteHeartbeatRepository(db, writer), memory=SqliteMemoryRepository(db),
        cursors=SqliteCursorRepository(db, writer),
        members=SqliteMemberRepository(db, writer), coordination=SoloCoordination())


def _postgresql(url: str, daemon: str) -> StoreBackend:
    db = PgDatabase(url)
    writer = BatchWriter(db)
    return StoreBackend(
        kind="postgresql", where=describe(url), db=db, writer=writer,
        events=PgEventLog(db, writer, claimant=daemon), dlq=PgDlqRepository(db, writer),
        audit=PgAuditRepository(db), notifications=PgNotificationRepository(db, writer),
        skills=PgSkillRepository(db), soul=PgSoulRepository(db),
        plugins=PgPluginStateRepository(db), workflows=PgWorkflowRepository(db, writer),
        cron=PgCronRepository(db, writer), chat=PgChatRepository(db, writer),
        tool_auth=PgToolAuthRepository(db, writer),
        conversations=PgConversationRepository(db, writer),
        api_keys=PgApiKeyRepository(db), usage=PgUsageRepository(db, writer),
        heartbeat=PgHeartbeatRepository(db, writer), memory=PgMemoryRepository(db),
        cursors=PgCursorRepository(db, writer),
        members=PgMemberRepository(db, writer), coordination=PgCoordination(url))
