"""Cron repository contract: jobs by id, and each job's runs newest first, bounded per job."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aman.cron.model import CatchUp, CronJob, CronRun, Origin, Outcome
from aman.events.model import Priority
from tests.store.contract.backends import Backend, Repositories


def job(id: str, **fields: Any) -> CronJob:
    made = CronJob(id=id, expression="*/5 * * * *", timezone="Europe/Paris",
                   event_type="cron.tick", payload={"room": "kitchen", "n": [1, 2]},
                   priority=Priority.HIGH, enabled=True, catch_up=CatchUp.ALL,
                   origin=Origin.API, created_at_ms=1_000, updated_at_ms=1_000,
                   handled_until_ms=1_000)
    return replace(made, **fields)


def run(job_id: str, scheduled: int, outcome: Outcome = Outcome.OK, **fields: Any) -> CronRun:
    made = CronRun(job_id=job_id, scheduled_at_ms=scheduled, fired_at_ms=scheduled + 5,
                   outcome=outcome, event_id=f"ev-{scheduled}")
    return replace(made, **fields)


async def test_jobs_come_back_as_saved_by_id(store: Repositories) -> None:
    assert await store.cron.jobs() == []
    b, a = job("b", origin=Origin.CONFIG), job("a", last_run_at_ms=900, last_outcome="ok")
    await store.cron.save(b)
    await store.cron.save(a)
    assert await store.cron.jobs() == [a, b]


async def test_saving_again_replaces_the_definition_but_not_the_history(
        store: Repositories) -> None:
    await store.cron.save(job("a", last_run_at_ms=900, last_outcome="ok"))
    edited = job("a", expression="0 9 * * *", timezone="UTC", event_type="cron.morning",
                 payload={}, priority=Priority.LOW, enabled=False, catch_up=CatchUp.SKIP,
                 origin=Origin.CONFIG, created_at_ms=5, updated_at_ms=2_000,
                 handled_until_ms=2_000)
    await store.cron.save(edited)
    assert await store.cron.jobs() == [replace(edited, created_at_ms=1_000, last_run_at_ms=900,
                                               last_outcome="ok")]


async def test_runs_are_newest_first_and_page_before_a_seq(store: Repositories) -> None:
    await store.cron.save(job("a"))
    await store.cron.save(job("b"))
    for t in (10, 20, 30):
        await store.cron.record_run(run("a", t), handled_until_ms=None, last_run=False, keep=10)
    await store.cron.record_run(run("b", 15, Outcome.SKIPPED, count=3, catch_up=True,
                                    event_id=None, note="catch-up: skip"),
                                handled_until_ms=None, last_run=False, keep=10)
    runs = await store.cron.runs("a", limit=10)
    assert [r.scheduled_at_ms for r in runs] == [30, 20, 10]
    assert runs[0] == replace(run("a", 30), seq=runs[0].seq)
    assert runs[0].seq > runs[1].seq > runs[2].seq
    older = await store.cron.runs("a", limit=1, before_seq=runs[0].seq)
    assert [r.scheduled_at_ms for r in older] == [20]
    (summary,) = await store.cron.runs("b", limit=10)
    assert summary == run("b", 15, Outcome.SKIPPED, count=3, catch_up=True, event_id=None,
                          note="catch-up: skip", seq=summary.seq)


async def test_a_run_moves_the_mark_forward_only_and_sets_the_last_run(
        store: Repositories) -> None:
    await store.cron.save(job("a", handled_until_ms=1_000))
    await store.cron.record_run(run("a", 5_000), handled_until_ms=5_000, last_run=True, keep=10)
    (stored,) = await store.cron.jobs()
    assert (stored.handled_until_ms, stored.last_run_at_ms, stored.last_outcome) == (
        5_000, 5_005, "ok")
    await store.cron.record_run(run("a", 3_000, Outcome.FAILED, error="bus refused"),
                                handled_until_ms=3_000, last_run=False, keep=10)
    (stored,) = await store.cron.jobs()
    assert (stored.handled_until_ms, stored.last_run_at_ms, stored.last_outcome) == (
        5_000, 5_005, "ok")
    failed = (await store.cron.runs("a", limit=1))[0]
    assert failed.outcome is Outcome.FAILED and failed.error == "bus refused"


async def test_runs_are_pruned_per_job_beyond_keep(store: Repositories) -> None:
    await store.cron.save(job("a"))
    await store.cron.save(job("b"))
    await store.cron.record_run(run("b", 1), handled_until_ms=None, last_run=False, keep=2)
    for t in range(10, 60, 10):
        await store.cron.record_run(run("a", t), handled_until_ms=None, last_run=False, keep=2)
    assert [r.scheduled_at_ms for r in await store.cron.runs("a", limit=10)] == [50, 40]
    assert [r.scheduled_at_ms for r in await store.cron.runs("b", limit=10)] == [1]


async def test_delete_removes_the_job_and_its_runs(store: Repositories) -> None:
    await store.cron.save(job("a"))
    await store.cron.save(job("b"))
    await store.cron.record_run(run("a", 10), handled_until_ms=None, last_run=False, keep=10)
    await store.cron.delete("a")
    await store.cron.delete("missing")
    assert [j.id for j in await store.cron.jobs()] == ["b"]
    assert await store.cron.runs("a", limit=10) == []


async def test_jobs_and_runs_survive_a_restart(store_backend: Backend,
                                               store: Repositories) -> None:
    await store.cron.save(job("a"))
    await store.cron.record_run(run("a", 5_000), handled_until_ms=5_000, last_run=True, keep=10)
    reopened = await store_backend.reopen()
    assert await reopened.cron.jobs() == [job("a", handled_until_ms=5_000, last_run_at_ms=5_005,
                                              last_outcome="ok")]
    assert [r.scheduled_at_ms for r in await reopened.cron.runs("a", limit=10)] == [5_000]
