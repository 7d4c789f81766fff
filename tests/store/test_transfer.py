"""Moving a whole store between backends: a SQLite store filled through the real repositories is
copied to a real PostgreSQL database (and back), every table's rows and the audit chain check out,
ids and sequences carry on, and every refusal leaves the target untouched."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from aman.audit.log import AuditLog
from aman.chat.model import ChatSession, StoredMessage
from aman.clock import SystemClock
from aman.cluster.model import Member
from aman.errors import StoreError
from aman.events.model import Event
from aman.memory.model import MemoryVersion
from aman.skills.model import IndexEntry
from aman.store.audit import SqlAuditRepository
from aman.store.backend import StoreBackend, open_backend
from aman.store.db import Database
from aman.store.migrate import bundled_migrations, migrate
from aman.store.transfer import (
    copy_tables,
    count_rows,
    occupied,
    plan_copy,
    schema_version,
    tables,
)
from aman.transfer import (
    InvalidStoreUrlError,
    StoreLocation,
    TransferRefusedError,
    migrate_store,
    parse_store_url,
)
from aman.usage.model import UsageRecord
from aman.workflows.model import HistoryEntry, WorkflowInstance
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

#: More events than one copy batch holds, so a table crosses batch boundaries.
EVENTS = 1_234
NOW = 1_780_000_000_000
#: The name the source's (stopped) daemon claimed its pending events under.
OLD_DAEMON = "old-host:8080"


@dataclass(frozen=True)
class Filled:
    """What ``fill`` wrote, to look for on the other side."""

    event_ids: list[str]
    audit_records: int


async def _opened(url: str | None, path: Path, daemon: str = "") -> StoreBackend:
    backend = open_backend(url, path, daemon=daemon)
    await backend.open()
    await backend.writer.start()
    return backend


async def _closed(backend: StoreBackend) -> None:
    await backend.writer.stop()
    await backend.close()


async def fill(path: Path) -> Filled:
    """A SQLite store with rows in most tables, written through the daemon's repositories."""
    store = await _opened(None, path, daemon=OLD_DAEMON)  # its events carry its claims
    try:
        events = [Event.create(source="test:transfer", event_type="moved.thing",
                               payload={"n": n, "text": "é ünïcode"}, max_retries=3,
                               now_ms=NOW + n).with_changes(seq=n + 1) for n in range(EVENTS)]
        for event in events:
            await store.events.append(event, durable=False, dedup_expires_at=None)
        audit = AuditLog(store.audit, SystemClock())
        for n in range(25):
            await audit.record("thing.changed", operator="alice", target=f"t{n}",
                               detail={"n": n, "note": "ünïcode"}, request_id=f"r{n}")
        session = ChatSession(id="s1", instance_id="wf-s1", agent_id="main",
                              session_type="persistent", title="garden", version=0,
                              created_at=NOW, last_active_at=NOW)
        await store.chat.create_session(session)
        for seq, text in enumerate(("We planned the garden party.", "Bring lemonade."), 1):
            await store.chat.add_user_message(StoredMessage(
                id=f"s1-m{seq}", session_id="s1", seq=seq, role="user", content=text,
                status="complete", created_at=NOW + seq, updated_at=NOW + seq),
                version=seq, now=NOW + seq)
        await store.workflows.record_definition("review", "h1", {"states": ["open"]}, None, NOW)
        instance = WorkflowInstance(id="i1", workflow="review", definition_hash="h1",
                                    definition_version=1, state="open", data={"ticket": 7},
                                    created_at=NOW, state_entered_at=NOW, updated_at=NOW)
        await store.workflows.save(instance, [HistoryEntry(None, "open", "start", NOW, None,
                                                           None, {"note": "open"})])
        await store.memory.add(MemoryVersion(agent_id="main", target="memory", version=1,
                                             content="The cat is Miso.", author="test",
                                             reason="v1", ts_ms=NOW))
        await store.memory.reindex("main", [("memories/main/MEMORY.md", 1, 1, "The cat is Miso.")])
        await store.skills.reindex([IndexEntry("weather", "Tell the forecast", "daily",
                                               "Ask the weather service.")])
        await store.skills.set_enabled("weather", False, NOW)
        await store.soul.add(soul="default.md", hash="h", content="calm", operator="boot",
                             reason="boot", created_at_ms=NOW)
        store.usage.add(UsageRecord(ts_ms=NOW, agent_id="main", session_id="s1", purpose="chat",
                                    provider="openai", model="gpt-x", result="ok",
                                    input_tokens=100, output_tokens=10, cached_tokens=20,
                                    duration_ms=12.5, cost=0.001))
        await store.writer.flush()
    finally:
        await _closed(store)
    return Filled([e.id for e in events], 25)


def sqlite_location(path: Path) -> StoreLocation:
    return parse_store_url(f"sqlite:///{path}", path.parent)


def pg_location(url: str) -> StoreLocation:
    return parse_store_url(url, Path("/nowhere"))


async def test_a_sqlite_store_moves_to_postgresql_whole(tmp_path: Path,
                                                        pg_server: PgServer) -> None:
    source = tmp_path / "aman.db"
    filled = await fill(source)
    url = pg_server.new_database()
    seen: list[tuple[str, int]] = []
    report = await migrate_store(sqlite_location(source), pg_location(url),
                                 on_table=lambda name, rows: seen.append((name, rows)))
    assert report.ok, report.problems
    counts = {t.name: (t.source_rows, t.target_rows) for t in report.tables}
    assert counts["events"] == (EVENTS, EVENTS)
    assert counts["event_steps"][0] >= EVENTS and counts["event_steps"][0] == \
        counts["event_steps"][1]
    assert counts["audit_log"] == (25, 25)
    assert counts["chat_messages"] == (2, 2) and counts["memory_fts"] == (1, 1)
    assert counts["skills_fts"] == (1, 1) and counts["llm_usage"] == (1, 1)
    assert "schema_version" not in counts
    # The SQLite search index over chat messages is PostgreSQL's expression index instead.
    assert dict(report.skipped) == {
        "chat_fts": "a search index the target keeps in its own way",
        "chat_fts_vocab": "a search index the target keeps in its own way",
        "daemons": "who runs on the source; each daemon on the target registers itself"}
    assert dict(seen) == {name: rows for name, (rows, _) in counts.items()}
    assert report.audit.ok and report.audit.checked == filled.audit_records

    moved = await _opened(url, Path("/unused"))
    try:
        assert await schema_version(moved.db) == report.schema_version
        first = await moved.events.get(filled.event_ids[0])
        assert first is not None and first["event"]["payload"]["text"] == "é ünïcode"
        message = await moved.chat.message("s1-m2")
        assert message is not None and message.content == "Bring lemonade."
        hits = await moved.memory.search_chats("garden party", 10, agent_id="main")
        assert [h["message_id"] for h in hits] == ["s1-m1"]
        assert [h["path"] for h in await moved.memory.search_memory("main", "miso", 5)] == [
            "memories/main/MEMORY.md"]
        assert [h["name"] for h in await moved.skills.search("forecast", 5)] == ["weather"]
        workflow = await moved.workflows.get("i1", with_history=True)
        assert workflow is not None and workflow.data == {"ticket": 7}
        assert workflow.history is not None and len(workflow.history) == 1
        # The stopped daemon's claims were released: a daemon booting on the target (under
        # any name) claims every pending event and re-queues it.
        claimed = await moved.events.claim_pending("new-host:9090", [], limit=10_000)
        assert len(claimed) == EVENTS
        # Sequences moved past the copied ids: the next rows take fresh numbers.
        late = Event.create(source="test:transfer", event_type="after.move", payload={},
                            max_retries=3, now_ms=NOW + EVENTS + 1)
        # (its accepted step takes the next event_steps id from the moved sequence)
        await moved.events.append(late.with_changes(seq=EVENTS + 1), durable=True,
                                  dedup_expires_at=None)
        assert await moved.events.max_seq() == EVENTS + 1
        audit = AuditLog(moved.audit, SystemClock())
        await audit.start()
        record = await audit.record("after.move", operator="bob")
        assert record.id == filled.audit_records + 1
        assert (await audit.verify()).ok
        later = await moved.soul.add(soul="default.md", hash="h2", content="calmer",
                                     operator="bob", reason="update", created_at_ms=NOW + 1)
        assert later.id == 2
    finally:
        await _closed(moved)


async def test_a_postgresql_store_moves_back_to_sqlite(tmp_path: Path,
                                                       pg_server: PgServer) -> None:
    first = tmp_path / "first.db"
    filled = await fill(first)
    url = pg_server.new_database()
    assert (await migrate_store(sqlite_location(first), pg_location(url))).ok
    back = tmp_path / "back" / "aman.db"
    report = await migrate_store(pg_location(url), sqlite_location(back))
    assert report.ok, report.problems
    assert [name for name, _ in report.skipped] == ["daemons"]
    store = await _opened(None, back)
    try:
        found = await store.events.get(filled.event_ids[-1])
        assert found is not None and found["event"]["payload"]["n"] == EVENTS - 1
        # The SQLite target rebuilds its own chat index from the copied messages.
        hits = await store.memory.search_chats("lemonade", 10, agent_id="main")
        assert [h["message_id"] for h in hits] == ["s1-m2"]
        assert [h["name"] for h in await store.skills.search("forecast", 5)] == ["weather"]
        assert (await AuditLog(store.audit, SystemClock()).verify()).checked == 25
    finally:
        await _closed(store)
    with sqlite3.connect(first) as a, sqlite3.connect(back) as b:
        query = "SELECT seq, id, body FROM events ORDER BY seq"
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        # AUTOINCREMENT tables keep counting from the copied ids.
        assert b.execute("SELECT seq FROM sqlite_sequence WHERE name = 'llm_usage'"
                         ).fetchone() == (1,)


async def test_a_broken_audit_chain_is_reported_as_a_difference(tmp_path: Path,
                                                                pg_server: PgServer) -> None:
    source = tmp_path / "aman.db"
    await fill(source)
    with sqlite3.connect(source) as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET target = 'forged' WHERE id = 7")
    report = await migrate_store(sqlite_location(source), pg_location(pg_server.new_database()))
    assert not report.ok
    assert report.problems == ["the audit chain does not verify on the target at record 7 "
                               "(content does not match its hash (the record was altered)) "
                               "(the source's chain is broken too)"]


async def pg_is_untouched(url: str) -> bool:
    """No aman table and no schema bookkeeping: migrate-store wrote nothing there."""
    db = open_backend(url, Path("/unused")).db
    await db.open()
    try:
        return await tables(db) == {} and await schema_version(db) == 0
    finally:
        await db.close()


async def test_an_occupied_target_is_refused_and_left_as_it_was(tmp_path: Path,
                                                                pg_server: PgServer) -> None:
    source = tmp_path / "aman.db"
    await fill(source)
    url = pg_server.new_database()
    target = await _opened(url, Path("/unused"))
    try:
        await AuditLog(target.audit, SystemClock()).record("already.here")
        before = await occupied(target.db)
    finally:
        await _closed(target)
    with pytest.raises(TransferRefusedError, match=r"already holds data: audit_log \(1 rows\)"):
        await migrate_store(sqlite_location(source), pg_location(url))
    target = await _opened(url, Path("/unused"))
    try:
        assert await occupied(target.db) == before
    finally:
        await _closed(target)


async def test_a_missing_or_foreign_source_is_refused(tmp_path: Path,
                                                      pg_server: PgServer) -> None:
    url = pg_server.new_database()
    with pytest.raises(TransferRefusedError, match="there is no SQLite store at"):
        await migrate_store(sqlite_location(tmp_path / "none.db"), pg_location(url))
    assert not (tmp_path / "none.db").exists()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    with pytest.raises(TransferRefusedError, match="holds no aman store"):
        await migrate_store(sqlite_location(foreign), pg_location(url))
    newer = tmp_path / "newer.db"
    await fill(newer)
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_version VALUES (9999, '9999_future.sql', 0)")
    with pytest.raises(TransferRefusedError, match="schema version 9999, newer than"):
        await migrate_store(sqlite_location(newer), pg_location(url))
    assert await pg_is_untouched(url)


async def test_same_backend_and_bad_urls_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TransferRefusedError, match="both stores are sqlite"):
        await migrate_store(sqlite_location(tmp_path / "a.db"),
                            sqlite_location(tmp_path / "b.db"))
    for bad, why in (("mysql://db/aman", "unknown store backend 'mysql'"),
                     ("postgresql://127.0.0.1:5432/", "needs a database name"),
                     ("postgresql://127.0.0.1:99999/aman", "not a valid PostgreSQL URL"),
                     ("sqlite://", "needs a file path"), ("  ", "empty")):
        with pytest.raises(InvalidStoreUrlError, match=why):
            parse_store_url(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_relative_sqlite_path_is_under_the_runtime_dir(tmp_path: Path) -> None:
    found = parse_store_url("sqlite://state/aman.db", tmp_path)
    assert found.kind == "sqlite" and found.path == tmp_path / "state" / "aman.db"
    assert parse_store_url("sqlite:////abs/aman.db", tmp_path).path == Path("/abs/aman.db")
    pg = parse_store_url("postgresql://bob:secret@db.example:5433/aman", tmp_path)
    assert pg.kind == "postgresql" and pg.describe() == "postgresql://bob@db.example:5433/aman"


async def test_a_source_one_schema_behind_is_brought_up_to_date_first(
        tmp_path: Path, pg_server: PgServer) -> None:
    source = tmp_path / "aman.db"
    older = bundled_migrations()[:-1]  # as the aman before this one left its store
    db = Database(source)
    await db.open()
    try:
        assert await migrate(db, older) == older[-1].version
        await AuditLog(SqlAuditRepository(db), SystemClock()).record("before.upgrade")
    finally:
        await db.close()
    report = await migrate_store(sqlite_location(source),
                                 pg_location(pg_server.new_database()))
    assert report.ok, report.problems
    assert report.upgraded_from == older[-1].version
    assert report.schema_version == bundled_migrations()[-1].version
    assert report.audit.checked == 1


async def test_a_table_and_a_column_a_later_migration_adds_are_copied_with_no_change(
        tmp_path: Path, pg_server: PgServer) -> None:
    source = tmp_path / "aman.db"
    await fill(source)
    url = pg_server.new_database()
    src, dst = open_backend(None, source), open_backend(url, Path("/unused"))
    await src.open()
    await dst.open()
    try:
        # What a migration 0018 could add on both backends.
        await src.db.executescript(
            "CREATE TABLE later_things (id INTEGER PRIMARY KEY, note TEXT NOT NULL, at INTEGER);"
            "INSERT INTO later_things (note, at) VALUES ('one', 1), ('two', NULL);"
            "ALTER TABLE events ADD COLUMN later_flag INTEGER NOT NULL DEFAULT 0;"
            "UPDATE events SET later_flag = 1 WHERE seq = 3;")
        await dst.db.executescript(
            "CREATE TABLE later_things (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
            " note TEXT NOT NULL, at BIGINT);"
            "ALTER TABLE events ADD COLUMN later_flag BIGINT NOT NULL DEFAULT 0;")
        plan = plan_copy(await tables(src.db), await tables(dst.db))
        copied = await copy_tables(src.db, dst.db, plan)
        assert copied["later_things"] == 2 and copied["events"] == EVENTS
        rows = await dst.db.fetchall("SELECT id, note, at FROM later_things ORDER BY id")
        assert [tuple(r) for r in rows] == [(1, "one", 1), (2, "two", None)]
        flagged = await dst.db.fetchall("SELECT seq FROM events WHERE later_flag = 1")
        assert [r["seq"] for r in flagged] == [3]
        async with dst.db.transaction() as tx:  # its sequence moved past the copied ids too
            await tx.execute("INSERT INTO later_things (note) VALUES ('three')")
        assert (await count_rows(dst.db, ["later_things"]))["later_things"] == 3
    finally:
        await dst.close()
        await src.close()


async def test_a_column_the_target_lacks_fails_the_plan_before_any_write(
        tmp_path: Path, pg_server: PgServer) -> None:
    source = tmp_path / "aman.db"
    await fill(source)
    src, dst = open_backend(None, source), open_backend(pg_server.new_database(), Path("/x"))
    await src.open()
    await dst.open()
    try:
        await src.db.executescript("ALTER TABLE chat_sessions ADD COLUMN only_here TEXT;"
                                   "CREATE TABLE only_here_too (x TEXT);")
        with pytest.raises(StoreError, match="no place for chat_sessions.only_here, "
                                             "only_here_too"):
            plan_copy(await tables(src.db), await tables(dst.db))
        assert await occupied(dst.db) == {}
    finally:
        await dst.close()
        await src.close()


async def test_a_daemon_beating_on_a_postgresql_source_refuses_the_move(
        tmp_path: Path, pg_server: PgServer) -> None:
    url = pg_server.new_database()
    assert (await migrate_store(sqlite_location(await _filled(tmp_path)), pg_location(url))).ok
    source = await _opened(url, Path("/unused"))
    now = SystemClock().now_ms()
    try:
        await source.members.join(Member(name="db-host:8080", incarnation="i1", host="db-host",
                                         pid=4321, url=None, started_at=now, last_seen=now))
        await source.writer.flush()
    finally:
        await _closed(source)
    back = tmp_path / "back.db"
    with pytest.raises(TransferRefusedError, match=r"a daemon runs on the source .*: "
                                                   r"db-host:8080 \(pid 4321 on db-host"):
        await migrate_store(pg_location(url), sqlite_location(back))
    assert not back.exists()
    # A row older than the death threshold is a daemon that died: it does not stop the move.
    report = await migrate_store(pg_location(url), sqlite_location(back), dead_after_ms=0)
    assert report.ok, report.problems
    with sqlite3.connect(back) as conn:
        assert conn.execute("SELECT COUNT(*) FROM daemons").fetchone() == (0,)


async def _filled(folder: Path) -> Path:
    path = folder / "filled.db"
    await fill(path)
    return path


async def test_a_row_that_does_not_fit_the_target_rolls_the_whole_copy_back(
        tmp_path: Path, pg_server: PgServer) -> None:
    source = await _filled(tmp_path)
    with sqlite3.connect(source) as conn:  # SQLite's columns take any value; PostgreSQL's do not
        conn.execute("UPDATE skill_state SET updated_at = 'soon' WHERE name = 'weather'")
    url = pg_server.new_database()
    with pytest.raises(StoreError, match=r"the copy failed and was rolled back .*a row of "
                                         r"skill_state does not fit the target's column types"):
        await migrate_store(sqlite_location(source), pg_location(url))
    target = open_backend(url, Path("/unused")).db
    await target.open()
    try:
        assert await occupied(target) == {}  # not even the tables copied before it
    finally:
        await target.close()
