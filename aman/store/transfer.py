"""Copying a whole store from one backend to the other (``aman migrate-store``), schema-driven.

The tables and columns copied are read from the two databases themselves, never listed here, so a
table or column that a later migration adds on both backends is copied with no change to this
module. The one exception is state that belongs to the daemons running on a store rather than to
the installation (``NOT_MOVED``, and the claims stopped daemons held on pending events). Primary
keys and ids are copied as they are; on PostgreSQL every identity or serial column's sequence is
then moved past the copied ids, so the daemon's next insert does not collide. Each database keeps
its own ``schema_version`` (the migrations run on the target itself). The copy is one transaction
on the target, written in batches (PostgreSQL through COPY): a failure leaves it without any row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aman.errors import StoreError
from aman.store.db import Database
from aman.store.migrate import bundled_migrations, migrate
from aman.store.pg.db import PgDatabase, PgTransaction
from aman.store.pg.migrate import bundled_pg_migrations, migrate_pg

#: The migrations' own bookkeeping: each database records the scripts it ran itself.
_BOOKKEEPING = frozenset({"schema_version"})
#: Tables whose rows belong to the daemons running on a store rather than to the installation:
#: the cluster's member rows (the source's daemons are stopped; each daemon on the target
#: registers itself when it boots), with why each stays behind.
NOT_MOVED: dict[str, str] = {
    "daemons": "who runs on the source; each daemon on the target registers itself"}
#: Why a source-only SQLite virtual table is not copied.
_DERIVED_INDEX = "a search index the target keeps in its own way"
#: Claims a stopped daemon held on pending events name a daemon the target never sees; released,
#: the first daemon on the target claims and re-queues those events at boot.
_RELEASE_CLAIMS = ("UPDATE events SET claimed_by = NULL"
                   " WHERE status = 'pending' AND claimed_by IS NOT NULL")
#: Rows read and written per batch: large tables (events, steps, messages) stream through in
#: pieces of this size, one COPY (PostgreSQL) or one executemany (SQLite) each.
BATCH_ROWS = 500

AnyDatabase = Database | PgDatabase
#: Turns one value read from the source into what the target column takes.
_Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Table:
    """One table as a database describes it: what can be copied into or out of it."""

    name: str
    columns: tuple[str, ...]  #: stored columns, in table order (generated ones left out)
    types: tuple[str, ...]  #: each column's declared type, lower case
    key: tuple[str, ...] = ()  #: primary key columns, for a stable read order
    serial: tuple[str, ...] = ()  #: columns numbered by a sequence (PostgreSQL)
    virtual: bool = False  #: an SQLite virtual table (a full-text index)


@dataclass(frozen=True)
class CopyPlan:
    """Which source table goes into which target table, and what is left out and why."""

    pairs: tuple[tuple[Table, Table], ...]
    #: source tables not copied, each with why: SQLite search indexes the target keeps in its
    #: own way (PostgreSQL searches chat messages in place), and ``NOT_MOVED``
    skipped: tuple[tuple[str, str], ...] = field(default=())


def _quote(name: str) -> str:
    """``name`` as an SQL identifier (both dialects accept double quotes)."""
    return '"' + name.replace('"', '""') + '"'


def newest_version(db: AnyDatabase) -> int:
    """The newest schema version this aman ships for ``db``'s backend."""
    found = bundled_pg_migrations() if isinstance(db, PgDatabase) else bundled_migrations()
    return max((m.version for m in found), default=0)


async def schema_version(db: AnyDatabase) -> int:
    """The schema version recorded in ``db``; 0 for a database aman never migrated."""
    if isinstance(db, PgDatabase):
        present: Any = await db.fetchone(
            "SELECT to_regclass('schema_version') IS NOT NULL AS present")
    else:
        present = await db.fetchone(
            "SELECT COUNT(*) > 0 AS present FROM sqlite_master"
            " WHERE type = 'table' AND name = 'schema_version'")
    if present is None or not present["present"]:
        return 0
    row = await db.fetchone("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
    return int(row["v"]) if row else 0


async def upgrade_schema(db: AnyDatabase) -> int:
    """Apply the migrations ``db`` lacks (what a daemon does at boot); return the version."""
    return await migrate_pg(db) if isinstance(db, PgDatabase) else await migrate(db)


async def tables(db: AnyDatabase) -> dict[str, Table]:
    """Every data table of ``db`` by name: not the migrations' bookkeeping, nor the database's
    own internals (SQLite's ``sqlite_*`` and the shadow tables behind a full-text index)."""
    found = await (_pg_tables(db) if isinstance(db, PgDatabase) else _sqlite_tables(db))
    return {name: table for name, table in found.items() if name not in _BOOKKEEPING}


async def _sqlite_tables(db: Database) -> dict[str, Table]:
    found: dict[str, Table] = {}
    for entry in await db.fetchall("PRAGMA table_list"):
        name, kind = str(entry["name"]), str(entry["type"])
        if entry["schema"] != "main" or kind not in ("table", "virtual") \
                or name.startswith("sqlite_"):
            continue
        # hidden: 0 a stored column, 1 a virtual table's hidden column, 2-3 a generated one
        columns = [c for c in await db.fetchall(f"PRAGMA table_xinfo({_quote(name)})")
                   if c["hidden"] == 0]
        key = tuple(str(c["name"]) for c in sorted(columns, key=lambda c: int(c["pk"]))
                    if c["pk"])
        found[name] = Table(name, tuple(str(c["name"]) for c in columns),
                            tuple(str(c["type"] or "").lower() for c in columns), key=key,
                            virtual=kind == "virtual")
    return found


async def _pg_tables(db: PgDatabase) -> dict[str, Table]:
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for row in await db.fetchall(
            "SELECT c.table_name, c.column_name, c.data_type,"
            " (c.is_identity = 'YES' OR COALESCE(c.column_default, '') LIKE 'nextval(%') AS serial"
            " FROM information_schema.columns c JOIN information_schema.tables t"
            " ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
            " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
            " AND c.is_generated <> 'ALWAYS'"
            " ORDER BY c.table_name, c.ordinal_position"):
        columns.setdefault(str(row["table_name"]), []).append(
            (str(row["column_name"]), str(row["data_type"]).lower(), bool(row["serial"])))
    keys: dict[str, list[str]] = {}
    for row in await db.fetchall(
            "SELECT k.table_name, k.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage k"
            " ON k.constraint_schema = tc.constraint_schema"
            " AND k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name"
            " WHERE tc.table_schema = current_schema() AND tc.constraint_type = 'PRIMARY KEY'"
            " ORDER BY k.table_name, k.ordinal_position"):
        keys.setdefault(str(row["table_name"]), []).append(str(row["column_name"]))
    return {name: Table(name, tuple(c[0] for c in cols), tuple(c[1] for c in cols),
                        key=tuple(keys.get(name, ())),
                        serial=tuple(c[0] for c in cols if c[2]))
            for name, cols in columns.items()}


async def count_rows(db: AnyDatabase, names: Sequence[str]) -> dict[str, int]:
    """How many rows each named table holds."""
    counts: dict[str, int] = {}
    for name in names:
        row = await db.fetchone(f"SELECT COUNT(*) AS n FROM {_quote(name)}")
        counts[name] = int(row["n"]) if row else 0
    return counts


async def occupied(db: AnyDatabase) -> dict[str, int]:
    """The data tables of ``db`` that hold rows, with their counts (empty: nothing to lose)."""
    found = await tables(db)
    counts = await count_rows(db, sorted(name for name, t in found.items() if t.columns))
    return {name: n for name, n in counts.items() if n}


def plan_copy(source: dict[str, Table], target: dict[str, Table]) -> CopyPlan:
    """Pair every source table with the target's; a table or column the target lacks (other
    than a search index it keeps its own way) fails here, before a row is written."""
    pairs: list[tuple[Table, Table]] = []
    skipped: list[tuple[str, str]] = []
    missing: list[str] = []
    for name in sorted(source):
        table = source[name]
        if name in NOT_MOVED:
            skipped.append((name, NOT_MOVED[name]))
            continue
        if name not in target:
            if table.virtual:
                skipped.append((name, _DERIVED_INDEX))
            else:
                missing.append(name)
            continue
        lost = [c for c in table.columns if c not in target[name].columns]
        if lost:
            missing.extend(f"{name}.{column}" for column in lost)
            continue
        pairs.append((table, target[name]))
    if missing:
        raise StoreError(f"the target schema has no place for {', '.join(missing)}",
                         hint="run the same aman version on both stores (the schema versions "
                              "must match), then migrate again")
    return CopyPlan(tuple(pairs), tuple(skipped))


async def copy_tables(source: AnyDatabase, target: AnyDatabase, plan: CopyPlan, *,
                      batch_rows: int = BATCH_ROWS,
                      on_table: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every planned table in one target transaction; return the rows copied per table."""
    copied: dict[str, int] = {}
    async with target.transaction() as tx:
        for read_from, write_to in plan.pairs:
            columns = [c for c in write_to.columns if c in read_from.columns]
            convert = _converters(write_to, columns) if isinstance(target, PgDatabase) else None
            select = _select(read_from, columns, ordered=isinstance(source, PgDatabase))
            insert = _insert(write_to.name, columns)
            count = 0
            async for rows in source.batches(select, batch_rows):
                if convert is not None:
                    rows = [_convert_row(write_to.name, columns, convert, row) for row in rows]
                if isinstance(tx, PgTransaction):
                    await tx.copy_rows(write_to.name, columns, rows)
                else:
                    await tx.executemany(insert, rows)
                count += len(rows)
            copied[write_to.name] = count
            if on_table is not None:
                on_table(write_to.name, count)
        if any(t.name == "events" and "claimed_by" in t.columns for _, t in plan.pairs):
            await tx.execute(_RELEASE_CLAIMS)
        if isinstance(tx, PgTransaction):
            await _move_sequences(tx, [write_to for _, write_to in plan.pairs])
    return copied


def _select(table: Table, columns: Sequence[str], *, ordered: bool) -> str:
    order = f" ORDER BY {', '.join(_quote(c) for c in table.key)}" if ordered and table.key else ""
    return f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_quote(table.name)}{order}"


def _insert(table: str, columns: Sequence[str]) -> str:
    """The SQLite insert of one row (a PostgreSQL target is loaded with COPY instead)."""
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) VALUES ({marks})"


async def _move_sequences(tx: PgTransaction, copied: Sequence[Table]) -> None:
    """Set each sequence-numbered column's next value past the largest id copied."""
    for table in copied:
        for column in table.serial:
            await tx.execute(
                "SELECT setval(pg_get_serial_sequence($1, $2),"
                f" COALESCE((SELECT MAX({_quote(column)}) FROM {_quote(table.name)}), 0) + 1,"
                " false)", (_quote(table.name), column))


def _converters(table: Table, columns: Sequence[str]) -> list[_Convert | None]:
    """Per column, how a value SQLite stored (its columns take any type) becomes what the
    PostgreSQL column's type accepts; None where no conversion is needed."""
    types = dict(zip(table.columns, table.types, strict=True))
    return [_CONVERT.get(types[column]) for column in columns]


def _convert_row(table: str, columns: Sequence[str], convert: Sequence[_Convert | None],
                 row: Sequence[Any]) -> tuple[Any, ...]:
    try:
        return tuple(value if fn is None or value is None else fn(value)
                     for fn, value in zip(convert, row, strict=True))
    except (TypeError, ValueError) as exc:
        values = dict(zip(columns, row, strict=True))
        raise StoreError(f"a row of {table} does not fit the target's column types ({exc}): "
                         f"{values!r}"[:500], hint="fix the row in the source (or remove it), "
                         "then migrate again") from exc


def _to_int(value: Any) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _to_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _to_bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


_CONVERT: dict[str, _Convert] = {
    "bigint": _to_int, "integer": _to_int, "smallint": _to_int,
    "text": _to_text, "character varying": _to_text,
    "double precision": float, "real": float,
    "boolean": bool, "bytea": _to_bytes,
}

__all__ = ["BATCH_ROWS", "NOT_MOVED", "AnyDatabase", "CopyPlan", "Table", "copy_tables",
           "count_rows", "newest_version", "occupied", "plan_copy", "schema_version", "tables",
           "upgrade_schema"]
