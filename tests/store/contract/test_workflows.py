"""Workflow repository contract: definition versions, instances, their history and timers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from aman.errors import StoreError
from aman.workflows.model import DefinitionRow, HistoryEntry, Wake, WorkflowInstance
from tests.store.contract.backends import Backend, Repositories


def instance(id: str, *, workflow: str = "review", state: str = "open",
             **fields: Any) -> WorkflowInstance:
    made = WorkflowInstance(id=id, workflow=workflow, definition_hash="h1", definition_version=1,
                            state=state, data={"ticket": 7, "tags": ["a"]}, created_at=1_000,
                            state_entered_at=1_000, updated_at=1_000)
    return replace(made, **fields)


def moved(frm: str | None, to: str, at: int, event_id: str | None = None) -> HistoryEntry:
    return HistoryEntry(frm, to, "event" if event_id else "start", at, event_id,
                        "ticket.updated" if event_id else None, {"note": to})


async def test_a_definition_gets_one_version_per_content(store: Repositories) -> None:
    body = {"name": "review", "states": ["open", "closed"]}
    assert await store.workflows.record_definition("review", "h1", body, "/w/r.yaml", 1_000) == 1
    assert await store.workflows.record_definition("review", "h1", body, "/w/r.yaml", 2_000) == 1
    assert await store.workflows.record_definition("review", "h2", {"v": 2}, None, 3_000) == 2
    assert await store.workflows.record_definition("other", "h1", {"o": 1}, None, 3_000) == 1
    assert await store.workflows.definition("review", "h1") == DefinitionRow("review", "h1", 1,
                                                                             body)
    assert await store.workflows.definition("review", "h2") == DefinitionRow("review", "h2", 2,
                                                                             {"v": 2})
    assert await store.workflows.definition("review", "h3") is None


async def test_definitions_recorded_at_once_get_one_version_each(store: Repositories) -> None:
    # Daemons sharing a store record the same definitions as they boot together.
    same = await asyncio.gather(*(store.workflows.record_definition(
        "boot", "h1", {"n": 1}, None, 1_000) for _ in range(6)))
    assert same == [1] * 6
    distinct = await asyncio.gather(*(store.workflows.record_definition(
        "grow", f"h{n}", {"n": n}, None, 1_000) for n in range(6)))
    assert sorted(distinct) == [1, 2, 3, 4, 5, 6]


async def test_an_instance_comes_back_as_saved_with_its_history(store: Repositories) -> None:
    started = instance("i1", last_active_state="open", total_retry_count=1,
                       session_retry_count=1, auto_retry_attempts=2, last_error="boom",
                       failed_event={"id": "e0", "event_type": "x", "payload": {}},
                       wake_at=9_000, wake_kind="timeout", last_event_at=1_000,
                       started_by="alice", recent_events=["e0"])
    first = moved(None, "open", 1_000)
    await store.workflows.save(started, [first], trigger_event_id="e0")
    assert await store.workflows.get("i1") == started
    later = replace(started, state="closed", status="finished", wake_at=None, wake_kind=None,
                    updated_at=2_000, data={"ticket": 7, "done": True}, recent_events=["e0", "e1"])
    second = moved("open", "closed", 2_000, "e1")
    await store.workflows.save(later, [second])
    assert await store.workflows.get("i1") == later
    full = await store.workflows.get("i1", with_history=True)
    assert full is not None and full.history == [first, second]
    assert await store.workflows.get("missing") is None


async def test_an_instance_keeps_what_it_was_created_with(store: Repositories) -> None:
    await store.workflows.save(instance("i1"), [], trigger_event_id="e0")
    changed = replace(instance("i1"), definition_hash="h9", definition_version=9, created_at=5,
                      state="closed", updated_at=2_000)
    await store.workflows.save(changed, [])
    found = await store.workflows.get("i1")
    assert found is not None and found.state == "closed" and found.updated_at == 2_000
    assert (found.definition_hash, found.definition_version, found.created_at) == ("h1", 1, 1_000)
    assert await store.workflows.by_trigger("review", "e0") == "i1"


async def test_one_instance_per_workflow_and_trigger_event(store: Repositories) -> None:
    await store.workflows.save(instance("i1"), [], trigger_event_id="e0")
    with pytest.raises(StoreError):
        await store.workflows.save(instance("i2"), [], trigger_event_id="e0")
    await store.workflows.save(instance("i3", workflow="other"), [], trigger_event_id="e0")
    assert await store.workflows.by_trigger("review", "e0") == "i1"
    assert await store.workflows.by_trigger("other", "e0") == "i3"
    assert await store.workflows.by_trigger("review", "e1") is None
    assert await store.workflows.get("i2") is None


async def test_a_queued_save_commits_in_order(store: Repositories) -> None:
    await store.workflows.save(instance("i1"), [moved(None, "open", 1)], wait=False)
    await store.workflows.save(instance("i1", state="closed"), [moved("open", "closed", 2, "e")],
                               wait=False)
    await store.settle()
    found = await store.workflows.get("i1", with_history=True)
    assert found is not None and found.state == "closed"
    assert [h.to_state for h in found.history] == ["open", "closed"]


async def test_pages_wakes_and_counts(store: Repositories) -> None:
    await store.workflows.save(instance("01", state="open", wake_at=5_000,
                                        wake_kind="timeout"), [])
    await store.workflows.save(instance("02", state="closed", status="finished"), [])
    await store.workflows.save(instance("03", state="open", wake_at=7_000,
                                        wake_kind="auto_retry"), [])
    await store.workflows.save(instance("04", workflow="other", state="open"), [])
    page = await store.workflows.page(workflow=None, state=None, after=None, limit=2)
    assert [i.id for i in page] == ["01", "02"]
    rest = await store.workflows.page(workflow=None, state=None, after="02", limit=10)
    assert [i.id for i in rest] == ["03", "04"]
    opened = await store.workflows.page(workflow="review", state="open", after=None, limit=10)
    assert [i.id for i in opened] == ["01", "03"]
    assert sorted(await store.workflows.wakes(), key=lambda w: w.instance_id) == [
        Wake("01", 5_000, "timeout"), Wake("03", 7_000, "auto_retry")]
    assert await store.workflows.counts() == {"review": {"active": 2, "finished": 1},
                                              "other": {"active": 1}}


async def test_instances_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    saved = instance("i1", wake_at=5_000, wake_kind="timeout")
    await store.workflows.save(saved, [moved(None, "open", 1_000)])
    reopened = await store_backend.reopen()
    assert await reopened.workflows.get("i1") == saved
    assert await reopened.workflows.wakes() == [Wake("i1", 5_000, "timeout")]
