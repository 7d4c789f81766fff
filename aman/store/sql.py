"""What a repository needs of its database, whichever it runs on: rows, the connection shape and
the SQL dialect.

Repositories write each statement once, with ``?`` placeholders and portable SQL (``INSERT ... ON
CONFLICT``, ``RETURNING``, row values), and run unchanged on the embedded ``Database`` (SQLite)
and on ``PgDatabase`` (PostgreSQL, which numbers the placeholders itself). Where the two truly
differ, the few fragments that differ come from ``db.dialect``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Literal, Protocol


class Row(Protocol):
    """A result row read by column name (``sqlite3.Row`` and asyncpg's ``Record`` both are)."""

    def __getitem__(self, key: str, /) -> Any:
        """The value of one column."""
        ...


class SqlTransaction(Protocol):
    """An open write transaction of either database."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (ids come back through ``RETURNING`` and ``fetchone``)."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Read inside the transaction (sees its own writes)."""
        ...


class SqlDatabase(Protocol):
    """A database the repositories run on: the embedded SQLite one or PostgreSQL."""

    @property
    def dialect(self) -> Dialect:
        """Where this database's SQL differs from the other's."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[SqlTransaction]:
        """A write transaction that commits on success and rolls back on error."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Row]:
        """Read committed rows."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """Read one committed row."""
        ...


class Dialect(ABC):
    """The SQL fragments in which SQLite and PostgreSQL differ; one instance per database kind
    (``SQLITE``, ``POSTGRESQL``), reached as ``db.dialect``.

    Everything else is written once: both accept ``INSERT ... ON CONFLICT DO NOTHING / DO
    UPDATE``, ``RETURNING``, row-value comparisons and ``CAST(x AS BIGINT)``.
    """

    #: "sqlite" or "postgresql", for messages.
    name: ClassVar[str]
    #: The full-text engine the migrations built: SQLite's FTS5 virtual tables, or PostgreSQL's
    #: ``tsvector`` columns and expression indexes. Search code picks its queries by this.
    text_search: ClassVar[Literal["fts5", "tsvector"]]
    #: A statement taking a lock (key: its one ``?``) held until the transaction ends, for
    #: writes that several daemons sharing the database must take turns at; None where the
    #: database already admits one writer at a time.
    transaction_lock: ClassVar[str | None]

    @abstractmethod
    def greatest(self, *exprs: str) -> str:
        """The largest of ``exprs``, none of which may be NULL (SQLite's answer would be NULL,
        PostgreSQL's the largest of the others)."""

    @abstractmethod
    def utc_day(self, ms: str) -> str:
        """``YYYY-MM-DD`` (UTC) of the epoch-milliseconds expression ``ms``."""

    @abstractmethod
    def bytewise(self, expr: str) -> str:
        """``expr`` compared byte by byte whatever the database's collation, for ORDER BY."""


class SqliteDialect(Dialect):
    """The embedded database's SQL."""

    name = "sqlite"
    text_search = "fts5"
    transaction_lock = None

    def greatest(self, *exprs: str) -> str:
        """SQLite's ``MAX`` with several arguments is the scalar maximum."""
        return f"MAX({', '.join(exprs)})"

    def utc_day(self, ms: str) -> str:
        """The day through ``strftime`` on Unix seconds."""
        return f"strftime('%Y-%m-%d', {ms} / 1000, 'unixepoch')"

    def bytewise(self, expr: str) -> str:
        """SQLite's default collation (BINARY) already compares bytes."""
        return expr


class PostgresDialect(Dialect):
    """PostgreSQL's SQL."""

    name = "postgresql"
    text_search = "tsvector"
    transaction_lock = "SELECT pg_advisory_xact_lock(?)"

    def greatest(self, *exprs: str) -> str:
        """PostgreSQL's ``MAX`` is only an aggregate."""
        return f"GREATEST({', '.join(exprs)})"

    def utc_day(self, ms: str) -> str:
        """The day of the timestamp read in UTC."""
        return f"to_char(to_timestamp({ms} / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def bytewise(self, expr: str) -> str:
        """The "C" collation compares bytes."""
        return f'{expr} COLLATE "C"'


SQLITE = SqliteDialect()
POSTGRESQL = PostgresDialect()
