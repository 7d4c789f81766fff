"""The ``daemons`` table (on either database), and the coordination of a store only one daemon
can use.

On the embedded SQLite file one daemon runs at a time (the instance lock sees to it), so every
lock is granted at once and no other daemon dispatches anything to hear about.
"""

from __future__ import annotations

import json

from aman.cluster.model import DispatchListener, Member
from aman.store.sql import Row, SqlDatabase
from aman.store.writer import BatchWriter

_COLUMNS = "name, incarnation, host, pid, url, started_at, last_seen, leads"


def member_from(row: Row) -> Member:
    """A ``daemons`` row as a Member."""
    return Member(name=row["name"], incarnation=row["incarnation"], host=row["host"],
                  pid=int(row["pid"]), url=row["url"], started_at=int(row["started_at"]),
                  last_seen=int(row["last_seen"]), leads=list(json.loads(row["leads"])))


class SqlMemberRepository:
    """Rows of ``daemons``."""

    def __init__(self, db: SqlDatabase, writer: BatchWriter) -> None:
        self._db = db
        self._writer = writer

    async def join(self, member: Member) -> None:
        """Insert or replace this daemon's row."""
        await self._writer.execute([(
            f"INSERT INTO daemons ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET incarnation = excluded.incarnation,"
            " host = excluded.host, pid = excluded.pid, url = excluded.url,"
            " started_at = excluded.started_at, last_seen = excluded.last_seen,"
            " leads = excluded.leads",
            (member.name, member.incarnation, member.host, member.pid, member.url,
             member.started_at, member.last_seen, json.dumps(member.leads)))])

    async def beat(self, name: str, incarnation: str, now_ms: int, leads: list[str]) -> bool:
        """Refresh this daemon's row; False when it is gone or another incarnation's."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "UPDATE daemons SET last_seen = ?, leads = ? WHERE name = ? AND incarnation = ?"
                " RETURNING name", (now_ms, json.dumps(leads), name, incarnation))
        return row is not None

    async def members(self) -> list[Member]:
        """Every row, by name."""
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM daemons ORDER BY name")
        return [member_from(r) for r in rows]

    async def leave(self, name: str, incarnation: str) -> None:
        """Delete this daemon's row."""
        await self._writer.execute([(
            "DELETE FROM daemons WHERE name = ? AND incarnation = ?", (name, incarnation))])

    async def forget(self, names: list[str]) -> None:
        """Delete the named rows."""
        await self._writer.execute([("DELETE FROM daemons WHERE name = ?", (n,)) for n in names])


class SoloCoordination:
    """Coordination for a store with one daemon: every lock is this daemon's."""

    shared = False

    def __init__(self) -> None:
        self._open = False

    async def open(self, on_dispatched: DispatchListener) -> None:
        """Nothing to connect."""
        self._open = True

    async def close(self) -> None:
        """Nothing to disconnect."""
        self._open = False

    @property
    def connected(self) -> bool:
        """Always, once open."""
        return self._open

    async def try_lock(self, key: int) -> bool:
        """Granted: no other daemon can want it."""
        return True

    async def unlock(self, key: int) -> None:
        """Nothing held elsewhere to give back."""

    async def held_elsewhere(self, key: int) -> bool:
        """Never: there is no other daemon."""
        return False
