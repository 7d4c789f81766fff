"""The PostgreSQL database: a pool of asyncpg connections, errors translated.

It offers the same shape as the embedded ``Database`` (``transaction()`` with ``execute``,
``executemany`` and ``fetchone``; committed reads through ``fetchall`` and ``fetchone``), so the
group-committing ``BatchWriter`` and the repositories drive both. Statements are written with
``?`` placeholders, numbered here into PostgreSQL's ``$1 .. $n`` (a statement already numbered is
sent as written).
Driver errors become ``StoreError`` here and nowhere else; a server that cannot be reached is
``StoreUnavailableError``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from aman.errors import StoreError, StoreUnavailableError
from aman.store.sql import POSTGRESQL, Dialect

log = logging.getLogger(__name__)

#: A result row: asyncpg records read by column name.
Row = Mapping[str, Any]

#: Errors that mean the server is gone or unreachable rather than a statement being wrong.
UNREACHABLE = (OSError, TimeoutError, asyncpg.InterfaceError,
                asyncpg.CannotConnectNowError, asyncpg.ConnectionDoesNotExistError)


def describe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


#: What ``numbered`` reads past: a ``?`` placeholder, else a quoted string or identifier, a
#: comment or a dollar-quoted string (whose ``?`` are text, not placeholders), else the opening of
#: one left unterminated.
_LEXEME = re.compile(r"""
    (?P<mark>\?)
  | (?<!\w)[Ee]'(?:[^'\\]|\\.|'')*'
  | '(?:[^']|'')*'
  | "(?:[^"]|"")*"
  | --[^\n]*
  | /\*.*?\*/
  | \$(?P<tag>(?:[A-Za-z_]\w*)?)\$.*?\$(?P=tag)\$
  | (?P<open>['"]|/\*)
""", re.DOTALL | re.VERBOSE)
_NUMBERED = re.compile(r"\$\d")


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``sql`` with its ``?`` placeholders numbered ``$1 .. $n`` in order of appearance.

    A ``?`` inside a string, a quoted name or a comment is left alone; a statement that already
    uses ``$n`` placeholders is returned as written; an unterminated quote or comment is refused
    rather than guessed at.
    """
    if "?" not in sql or _NUMBERED.search(sql):
        return sql
    count = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal count
        if match.group("open"):
            raise StoreError(f"unterminated {match.group('open')} in SQL: {sql[:80]!r}")
        if match.group("mark"):
            count += 1
            return f"${count}"
        return match.group(0)

    return _LEXEME.sub(replace, sql)


#: ``INSERT INTO t (cols) VALUES ($1, 'literal', ..., $n)`` with no tail or ``ON CONFLICT DO
#: NOTHING``: the statements that may become one multi-row insert. An upsert (DO UPDATE) stays
#: row by row, because one statement may not update the same row twice.
_PLAIN_INSERT = re.compile(
    r"^(?P<head>\s*INSERT\s+INTO\s+[^()]+\([^()]*\)\s+VALUES\s*)\((?P<values>[^()]*)\)"
    r"(?P<tail>\s*(?:ON\s+CONFLICT\s+DO\s+NOTHING)?\s*)$", re.IGNORECASE)
_MARK = re.compile(r"\$(\d+)")
#: Rows per multi-row statement, largest first: few distinct statements to prepare per insert.
_CHUNKS = (256, 64, 16, 4)


def multi_row(sql: str, width: int, rows: int) -> str | None:
    """``sql`` (a plain single-row insert of ``width`` values) for ``rows`` rows, else None."""
    match = _PLAIN_INSERT.match(sql)
    values = match.group("values") if match else ""
    if match is None or sorted(int(m) for m in _MARK.findall(values)) != list(range(1, width + 1)):
        return None
    groups = ", ".join(
        "(" + _MARK.sub(lambda m, base=row * width: f"${base + int(m.group(1))}", values) + ")"
        for row in range(rows))
    return f"{match.group('head')}{groups}{match.group('tail')}"


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A connection going back to the pool keeps its session: aman sets no session state (its
    advisory locks end with their transaction), so the default reset (unlock all, close
    cursors, UNLISTEN, RESET ALL) would cost a round trip per transaction and per read for
    nothing. asyncpg still rolls back a transaction left open."""


class PgTransaction:
    """A write transaction in progress; only valid inside ``PgDatabase.transaction()``."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return 0 (rows that need their id use RETURNING)."""
        try:
            await self._conn.execute(numbered(sql) if params else sql, *params)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database write failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database write failed: {exc}") from exc
        return 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows: plain inserts as multi-row statements, anything
        else pipelined in one round trip.

        Chunks of one size are pipelined together too, so a batch's inserts into one table cost
        a round trip per chunk size used (and one for the rest), not one per chunk: on a busy
        server every round trip waits for its backend to be scheduled.
        """
        pending = [tuple(row) for row in rows]
        sql = numbered(sql)
        try:
            width = len(pending[0]) if pending else 0
            for size in _CHUNKS:
                count = len(pending) // size
                statement = multi_row(sql, width, size) if count else None
                if statement is None:
                    continue
                chunks = [tuple(v for row in pending[n * size:(n + 1) * size] for v in row)
                          for n in range(count)]
                pending = pending[count * size:]
                if count == 1:
                    await self._conn.execute(statement, *chunks[0])
                else:
                    await self._conn.executemany(statement, chunks)
            if pending:
                await self._conn.executemany(sql, pending)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database write failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database write failed: {exc}") from exc

    async def copy_rows(self, table: str, columns: Sequence[str],
                        rows: Iterable[Sequence[Any]]) -> None:
        """Append many rows to ``table`` with the COPY protocol (bulk loads: far fewer round
        trips and no statement per row); values must already have the columns' types."""
        try:
            await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))
        except (asyncpg.PostgresError, ValueError) as exc:  # ValueError: a value of another type
            raise StoreError(f"database write failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database write failed: {exc}") from exc

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Read inside the transaction (sees its own writes)."""
        try:
            row: Row | None = await self._conn.fetchrow(numbered(sql) if params else sql,
                                                        *params)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database read failed: {exc}") from exc
        return row


class PgDatabase:
    """Owns a connection pool to one PostgreSQL database; open and close may repeat."""

    #: PostgreSQL's SQL where it differs from SQLite's.
    dialect: Dialect = POSTGRESQL

    def __init__(self, url: str, *, max_connections: int = 10,
                 connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self._max = max_connections
        self._timeout = connect_timeout_s
        self._pool: asyncpg.Pool | None = None

    @property
    def is_open(self) -> bool:
        """Whether the pool is open."""
        return self._pool is not None

    async def open(self) -> None:
        """Connect; a server that cannot be reached fails here with the URL named."""
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self._max, timeout=self._timeout,
                command_timeout=60, reset=_keep_session)
        except asyncpg.InvalidCatalogNameError as exc:
            raise StoreError(f"cannot open database {describe(self.url)}: {exc}; create it "
                             "(createdb) or fix store.url") from exc
        except asyncpg.PostgresError as exc:
            raise StoreError(f"cannot open database {describe(self.url)}: {exc}") from exc
        except (*UNREACHABLE, ValueError) as exc:
            raise StoreUnavailableError(
                f"cannot reach PostgreSQL at {describe(self.url)}: {exc or type(exc).__name__};"
                " check that the server runs and store.url names it") from exc

    async def close(self) -> None:
        """Close the pool; safe to call twice."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except (TimeoutError, *UNREACHABLE, asyncpg.PostgresError):
                log.exception("closing %s failed", describe(self.url))
                pool.terminate()

    def _require(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreUnavailableError("the database is not open (runtime not started)")
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """One pooled connection for the caller's own transaction handling."""
        try:
            async with self._require().acquire() as conn:
                yield conn
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database connection failed: {exc}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgTransaction]:
        """A write transaction on one pooled connection: COMMIT on success, else ROLLBACK."""
        async with self.connection() as conn:
            tx = conn.transaction()
            try:
                await tx.start()
            except asyncpg.PostgresError as exc:
                raise StoreError(f"cannot begin a transaction: {exc}") from exc
            try:
                yield PgTransaction(conn)
            except BaseException:
                try:
                    await tx.rollback()
                except (asyncpg.PostgresError, *UNREACHABLE):
                    log.exception("rollback failed")
                raise
            try:
                await tx.commit()
            except asyncpg.PostgresError as exc:
                raise StoreError(f"commit failed: {exc}") from exc

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Read committed rows."""
        try:
            rows: list[Row] = await self._require().fetch(numbered(sql) if params else sql,
                                                          *params)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database read failed: {exc}") from exc
        return rows

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Read one committed row."""
        try:
            row: Row | None = await self._require().fetchrow(
                numbered(sql) if params else sql, *params)
        except asyncpg.PostgresError as exc:
            raise StoreError(f"database read failed: {exc}") from exc
        except UNREACHABLE as exc:
            raise StoreUnavailableError(f"database read failed: {exc}") from exc
        return row

    async def batches(self, sql: str, size: int) -> AsyncIterator[list[tuple[Any, ...]]]:
        """Committed rows ``size`` at a time through a server-side cursor (one read-only
        transaction), so a large table is read without holding it all."""
        async with self.connection() as conn:
            try:
                async with conn.transaction(readonly=True):
                    cursor = await conn.cursor(sql)
                    while rows := await cursor.fetch(size):
                        yield [tuple(row) for row in rows]
            except asyncpg.PostgresError as exc:
                raise StoreError(f"database read failed: {exc}") from exc

    async def executescript(self, script: str) -> None:
        """Run a multi-statement script in one transaction (migrations only)."""
        async with self.connection() as conn:
            try:
                async with conn.transaction():
                    await conn.execute(script)
            except asyncpg.PostgresError as exc:
                raise StoreError(f"database script failed: {exc}") from exc
