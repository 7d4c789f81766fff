"""Audit repository contract: append-only, hash-chained records, queried newest first."""

from __future__ import annotations

from typing import Any

import pytest

from aman.audit.log import AuditLog
from aman.audit.model import GENESIS_HASH, AuditQuery, AuditRecord, AuditRepository, chain_hash
from aman.clock import SystemClock
from aman.errors import StoreError
from tests.store.contract.backends import Backend, Repositories


class FixedClock(SystemClock):
    def __init__(self) -> None:
        self.now = 1_700_000_000_000

    def now_ms(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
async def audit_log(store: Repositories) -> AuditLog:
    log = AuditLog(store.audit, FixedClock())
    await log.start()
    return log


def record(id: int, prev_hash: str, *, operator: str = "alice", outcome: str = "ok",
           detail: dict[str, Any] | None = None, request_id: str | None = None) -> AuditRecord:
    fields: dict[str, Any] = {"id": id, "ts_ms": 1_000 * id, "operator": operator,
                              "action": "skill.enable", "target": "skill:a", "outcome": outcome,
                              "detail": detail or {}, "request_id": request_id}
    return AuditRecord(**fields, prev_hash=prev_hash,
                       hash=chain_hash(prev_hash=prev_hash, **fields))


async def all_records(repo: AuditRepository, batch_size: int = 500) -> list[AuditRecord]:
    return [r async for r in repo.iterate(batch_size)]


# --- the repository ------------------------------------------------------------------------------


async def test_an_empty_log_has_no_tail(store: Repositories) -> None:
    assert await store.audit.tail() is None
    assert await all_records(store.audit) == []


async def test_records_come_back_exactly_as_appended(store: Repositories) -> None:
    first = record(1, GENESIS_HASH, detail={"nested": {"b": [1, 2.5, None, True]}, "é": "ünï"},
                   request_id="req-1")
    second = record(2, first.hash, operator="bob", outcome="failed")
    await store.audit.append(first)
    await store.audit.append(second)
    assert await store.audit.tail() == (2, second.hash)
    assert await all_records(store.audit) == [first, second]
    newest_first = await store.audit.query(AuditQuery(), before_id=None, limit=10)
    assert newest_first == [second, first]


async def test_iterate_reads_everything_oldest_first_whatever_the_batch(
        store: Repositories) -> None:
    prev = GENESIS_HASH
    for i in range(1, 8):
        rec = record(i, prev)
        await store.audit.append(rec)
        prev = rec.hash
    for batch in (1, 3, 7, 100):
        assert [r.id for r in await all_records(store.audit, batch)] == list(range(1, 8))


async def test_an_id_already_taken_is_refused_and_the_chain_stays(store: Repositories) -> None:
    first = record(1, GENESIS_HASH)
    await store.audit.append(first)
    with pytest.raises(StoreError):
        await store.audit.append(record(1, GENESIS_HASH, operator="mallory"))
    assert await all_records(store.audit) == [first]


async def test_the_log_survives_a_restart(store_backend: Backend, store: Repositories) -> None:
    first = record(1, GENESIS_HASH)
    await store.audit.append(first)
    reopened = await store_backend.reopen()
    assert await reopened.audit.tail() == (1, first.hash)


# --- the chain, through the audit log service -----------------------------------------------------


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
    start = page3[0].ts_ms
    window, _ = await audit_log.query(AuditQuery(since_ms=start + 1000, until_ms=start + 2000),
                                      limit=50)
    assert {r.id for r in window} == {2, 3}


async def test_like_wildcards_in_q_and_prefixes_are_literal(audit_log: AuditLog) -> None:
    await audit_log.record("a", detail={"x": "100%"})
    await audit_log.record("b", detail={"x": "100"})
    await audit_log.record("skill_x.enable")
    await audit_log.record("skillyx.enable")
    found, _ = await audit_log.query(AuditQuery(q="100%"), limit=10)
    assert [r.action for r in found] == ["a"]
    prefixed, _ = await audit_log.query(AuditQuery(action="skill_*"), limit=10)
    assert [r.action for r in prefixed] == ["skill_x.enable"]


async def test_the_database_refuses_updates_and_deletes(store_backend: Backend,
                                                        audit_log: AuditLog) -> None:
    await audit_log.record("agent.start")
    with pytest.raises(Exception, match="append-only"):
        await store_backend.edit_audit_directly("UPDATE audit_log SET operator = 'mallory'")
    with pytest.raises(Exception, match="append-only"):
        await store_backend.edit_audit_directly("DELETE FROM audit_log")
    assert (await audit_log.verify()).ok


async def test_verify_names_the_first_altered_record(store_backend: Backend,
                                                     audit_log: AuditLog) -> None:
    for action in ("a", "b", "c", "d"):
        await audit_log.record(action)
    await store_backend.tamper_audit("UPDATE audit_log SET operator = 'mallory' WHERE id = 3")
    report = await audit_log.verify()
    assert not report.ok and report.checked == 2
    assert report.first_broken is not None and report.first_broken.id == 3
    assert "altered" in report.first_broken.reason


async def test_verify_detects_a_deleted_record(store_backend: Backend,
                                               audit_log: AuditLog) -> None:
    for action in ("a", "b", "c"):
        await audit_log.record(action)
    await store_backend.tamper_audit("DELETE FROM audit_log WHERE id = 2")
    report = await audit_log.verify()
    assert report.first_broken is not None and report.first_broken.id == 3
    assert "missing" in report.first_broken.reason


async def test_verify_detects_a_truncated_tail(store_backend: Backend,
                                               audit_log: AuditLog) -> None:
    for action in ("a", "b", "c"):
        await audit_log.record(action)
    await store_backend.tamper_audit("DELETE FROM audit_log WHERE id = 3")
    report = await audit_log.verify()
    assert not report.ok and report.first_broken is not None and report.first_broken.id == 3


async def test_the_chain_continues_after_a_restart(store_backend: Backend,
                                                   audit_log: AuditLog) -> None:
    await audit_log.record("one")
    await audit_log.stop()
    reopened = await store_backend.reopen()
    log = AuditLog(reopened.audit, FixedClock())
    await log.start()
    second = await log.record("two")
    assert second.id == 2
    assert (await log.verify()).ok
