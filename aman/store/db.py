"""The SQLite database: one writer connection, one reader connection, WAL, errors translated.

Writes go through ``transaction()``, which serializes writers on one connection (SQLite allows one
writer at a time anyway) and commits or rolls back as a unit. Reads use a second connection so they
never see another request's uncommitted rows. Driver errors become ``StoreError`` here and nowhere
else.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from aman.errors import StoreError, StoreUnavailableError
from aman.store.sql import SQLITE, Dialect

log = logging.getLogger(__name__)

#: WAL lets the reader run beside the writer; NORMAL sync keeps every committed transaction
#: across a process crash (kill -9) and loses at most the last ones on power loss.
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)

Row = sqlite3.Row


class Transaction:
    """A write transaction in progress; only valid inside ``Database.transaction()``."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return lastrowid."""
        try:
            cursor = await self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"database write failed: {exc}") from exc
        return cursor.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows."""
        try:
            await self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StoreError(f"database write failed: {exc}") from exc

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Read inside the transaction (sees its own writes); the statement is finished before
        this returns, so an ``INSERT ... RETURNING`` never holds the commit up."""
        try:
            cursor = await self._conn.execute(sql, params)
            row = await cursor.fetchone()
            await cursor.close()
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        return row


class Database:
    """Owns the connections to one SQLite file; open and close may repeat (agent start/stop)."""

    #: SQLite's SQL where it differs from PostgreSQL's.
    dialect: Dialect = SQLITE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        """Whether the connections are open."""
        return self._writer is not None

    async def open(self) -> None:
        """Open both connections and apply pragmas."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await self._connect()
            self._reader = await self._connect()
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc
        except BaseException:  # cancelled mid-open (a stop during boot): leave nothing running
            await asyncio.shield(self.close())
            raise
        self._write_lock = asyncio.Lock()

    async def _connect(self) -> aiosqlite.Connection:
        conn = aiosqlite.connect(self.path, isolation_level=None)
        try:
            await conn
            conn.row_factory = sqlite3.Row
            for pragma in _PRAGMAS:
                await conn.execute(pragma)
        except BaseException:
            # End the connection's thread even if it never finished connecting, and wait for it:
            # its last answer must not arrive after the loop closed (a thread exception).
            conn.stop()
            thread = getattr(conn, "_thread", None)
            if thread is not None and thread.is_alive():
                await asyncio.shield(asyncio.to_thread(thread.join, 2.0))
            raise
        return conn

    async def close(self) -> None:
        """Close both connections; safe to call twice."""
        for conn in (self._reader, self._writer):
            if conn is not None:
                try:
                    await conn.close()
                except sqlite3.Error:
                    log.exception("closing %s failed", self.path)
        self._reader = self._writer = None

    def _require(self, conn: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if conn is None:
            raise StoreUnavailableError("the database is not open (runtime not started)")
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Serialize a write transaction: BEGIN IMMEDIATE, then COMMIT or ROLLBACK.

        However it ends (an error, a failed commit, or the caller cancelled while a statement
        was on its way to the connection's thread, where it still runs), the connection is left
        outside any transaction: one left open would refuse every later BEGIN.
        """
        async with self._write_lock:
            conn = self._require(self._writer)
            try:
                await conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot begin a transaction: {exc}") from exc
            except BaseException:
                await asyncio.shield(_rollback(conn))
                raise
            try:
                yield Transaction(conn)
                await conn.execute("COMMIT")
            except sqlite3.Error as exc:  # the caller's statements raise StoreError: the commit
                await asyncio.shield(_rollback(conn))
                raise StoreError(f"commit failed: {exc}") from exc
            except BaseException:
                await asyncio.shield(_rollback(conn))
                raise

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Read committed rows."""
        conn = self._require(self._reader)
        try:
            cursor = await conn.execute(sql, params)
            return list(await cursor.fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Read one committed row."""
        conn = self._require(self._reader)
        try:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def batches(self, sql: str, size: int) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Committed rows ``size`` at a time, so a large table is read without holding it all."""
        conn = self._require(self._reader)
        try:
            cursor = await conn.execute(sql)
            while rows := await cursor.fetchmany(size):
                yield [tuple(row) for row in rows]
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def integrity_problems(self) -> list[str]:
        """What ``PRAGMA integrity_check`` finds wrong (empty when the file is sound)."""
        try:
            found = [str(row[0]) for row in await self.fetchall("PRAGMA integrity_check")]
        except StoreError as exc:  # damaged past checking ("database disk image is malformed")
            return [str(exc)]
        return [] if found == ["ok"] else found

    async def executescript(self, script: str) -> None:
        """Run a multi-statement script on the writer (migrations only)."""
        async with self._write_lock:
            conn = self._require(self._writer)
            try:
                await conn.executescript(script)
            except sqlite3.Error as exc:
                # A script that began a transaction and failed midway leaves it open; close it so
                # none of its statements can be committed by a later write.
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                raise StoreError(f"database script failed: {exc}") from exc


async def _rollback(conn: aiosqlite.Connection) -> None:
    """End whatever transaction ``conn`` is in; none at all is fine."""
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        if "no transaction is active" not in str(exc):
            log.exception("rollback failed")
