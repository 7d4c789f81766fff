"""Audit repository contract, parametrized over backends (SQLite today)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aman.audit.log import AuditLog
from aman.audit.model import GENESIS_HASH, AuditQuery
from aman.clock import SystemClock
from aman.store.audit import SqliteAuditRepository
from aman.store.db import Database
from aman.store.migrate import migrate


class FixedClock(SystemClock):
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture(params=["sqlite"])
async def audit_log(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AuditLog]:
    db = Database(tmp_path / "aman.db")
    await db.open()
    await migrate(db)
    log = AuditLog(SqliteAuditRepository(db), FixedClock())
    await log.start()
    yield log
    await db.close()


async def test_records_chain_from_genesis(audit_log: AuditLog) -> None:
    first = await audit_log.record("agent.start", operator="alice", target="runtime")
    second = await audit_log.record("agent.shutdown", operator="bob", target="runtime")
    assert first.id == 1 and first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    report = await audit_log.verify()
    assert report.ok and report.checked == 2 and report.last_hash == second.hash


async def test_query_filters_and_pages_newest_first(audit_log: AuditLog) -> None:
    for i in range(7):
        await audit_log.record("skill.enable" if i % 2 else "agent.start", operator=f"op{i % 3}",
                               target=f"skill:s{i}", outcome="ok" if i < 5 else "failed",
                               detail={"note": f"n{i}"})
    page, next_id = await audit_log.query(AuditQuery(), limit=3)
    assert [r.id for r in page] == [7, 6, 5] and next_id == 5
    page2, next_id2 = await audit_log.query(AuditQuery(), before_id=next_id, limit=3)
    assert [r.id for r in page2] == [4, 3, 2] and next_id2 == 2
    page3, end = await audit_log.query(AuditQuery(), before_id=next_id2, limit=3)
    assert [r.id for r in page3] == [1] and end is None

    by_action, _ = await audit_log.query(AuditQuery(action="skill.enable"), limit=50)
    assert {r.id for r in by_action} == {2, 4, 6}
    by_prefix, _ = await audit_log.query(AuditQuery(action="skill.*"), limit=50)
    assert {r.id for r in by_prefix} == {2, 4, 6}
    failed, _ = await audit_log.query(AuditQuery(outcome="failed"), limit=50)
    assert {r.id for r in failed} == {6, 7}
    text, _ = await audit_log.query(AuditQuery(q="n3"), limit=50)
    assert [r.id for r in text] == [4]
    op, _ = await audit_log.query(AuditQuery(operator="op0", target="skill:s3"), limit=50)
    assert [r.id for r in op] == [4]
    window, _ = await audit_log.query(AuditQuery(since_ms=first_ts(page3) + 1000,
                                                 until_ms=first_ts(page3) + 2000), limit=50)
    assert {r.id for r in window} == {2, 3}


def first_ts(records: list) -> int:  # type: ignore[type-arg]
    return int(records[0].ts_ms)


async def test_like_wildcards_in_q_are_literal(audit_log: AuditLog) -> None:
    await audit_log.record("a", detail={"x": "100%"})
    await audit_log.record("b", detail={"x": "100"})
    found, _ = await audit_log.query(AuditQuery(q="100%"), limit=10)
    assert [r.action for r in found] == ["a"]


async def test_database_refuses_updates_and_deletes(audit_log: AuditLog, tmp_path: Path) -> None:
    await audit_log.record("agent.start")
    with sqlite3.connect(tmp_path / "aman.db") as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_log SET operator = 'mallory'")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_log")


async def test_verify_names_the_first_altered_record(audit_log: AuditLog, tmp_path: Path) -> None:
    for action in ("a", "b", "c", "d"):
        await audit_log.record(action)
    with sqlite3.connect(tmp_path / "aman.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET operator = 'mallory' WHERE id = 3")
    report = await audit_log.verify()
    assert not report.ok and report.checked == 2
    assert report.first_broken is not None and report.first_broken.id == 3
    assert "altered" in report.first_broken.reason


async def test_verify_detects_a_deleted_record(audit_log: AuditLog, tmp_path: Path) -> None:
    for action in ("a", "b", "c"):
        await audit_log.record(action)
    with sqlite3.connect(tmp_path / "aman.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id = 2")
    report = await audit_log.verify()
    assert report.first_broken is not None and report.first_broken.id == 3
    assert "missing" in report.first_broken.reason


async def test_verify_detects_a_truncated_tail(audit_log: AuditLog, tmp_path: Path) -> None:
    for action in ("a", "b", "c"):
        await audit_log.record(action)
    with sqlite3.connect(tmp_path / "aman.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_delete")
        conn.execute("DELETE FROM audit_log WHERE id = 3")
    report = await audit_log.verify()
    assert not report.ok and report.first_broken is not None and report.first_broken.id == 3


async def test_chain_continues_after_reopen(tmp_path: Path) -> None:
    db = Database(tmp_path / "aman.db")
    await db.open()
    await migrate(db)
    log = AuditLog(SqliteAuditRepository(db), FixedClock())
    await log.start()
    await log.record("one")
    await log.stop()
    await db.close()
    await db.open()
    await log.start()
    second = await log.record("two")
    assert second.id == 2
    assert (await log.verify()).ok
    await db.close()
