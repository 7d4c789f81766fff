"""ApprovalService against a real runtime's store, bus and audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aman.audit.model import AuditQuery
from aman.config.agents import ToolsSettings
from aman.core.runtime import Runtime
from aman.events.model import Event
from aman.store.tool_auth import SqlToolAuthRepository
from aman.tools.approvals import (
    SUMMARY_LIMIT,
    AlreadyAnsweredError,
    ApprovalService,
    AuthNotFoundError,
    Decision,
    summarize,
)
from aman.tools.model import Sensitivity
from tests.helpers import wait_for

LOW, MEDIUM, HIGH = Sensitivity.LOW, Sensitivity.MEDIUM, Sensitivity.HIGH
MakeService = Callable[..., ApprovalService]


@pytest.fixture
async def make_service(runtime: Runtime) -> AsyncIterator[MakeService]:
    """A started service on the runtime's store, bus and audit log with its own tools settings."""
    built: list[ApprovalService] = []

    def build(**tools: Any) -> ApprovalService:
        service = ApprovalService(SqlToolAuthRepository(runtime.db, runtime.writer),
                                  runtime.bus, runtime.audit, runtime.clock,
                                  lambda: ToolsSettings(**tools))
        built.append(service)
        return service

    yield build
    for service in built:
        await service.stop()


@pytest.fixture
def facts(runtime: Runtime) -> list[Event]:
    """tool_auth_* facts as the SSE stream sees them."""
    seen: list[Event] = []
    runtime.bus.observe(lambda e: seen.append(e) if e.event_type.startswith("tool_auth") else None)
    return seen


def required(facts: list[Event]) -> list[dict[str, Any]]:
    return [e.payload for e in facts if e.event_type == "tool_auth_required"]


def resolved(facts: list[Event]) -> list[dict[str, Any]]:
    return [e.payload for e in facts if e.event_type == "tool_auth_resolved"]


async def ask(service: ApprovalService, tool: str = "write", sensitivity: Sensitivity = MEDIUM,
              session_id: str | None = "s1", **arguments: Any) -> asyncio.Task[Decision]:
    return asyncio.create_task(service.request(
        tool=tool, arguments=arguments or {"path": "a.txt"}, sensitivity=sensitivity,
        call_id=f"{tool}-1", session_id=session_id, agent_id="default"))


async def asked(facts: list[Event], count: int = 1) -> dict[str, Any]:
    await wait_for(lambda: len(required(facts)) >= count)
    return required(facts)[count - 1]


async def started(make_service: MakeService, **tools: Any) -> ApprovalService:
    service = make_service(**tools)
    await service.start()
    return service


async def test_low_and_auto_approved_tools_never_ask(make_service: MakeService,
                                                     facts: list[Event]) -> None:
    service = await started(make_service, auto_approve=["exec"])
    low = await service.request(tool="read", arguments={"path": "x"}, sensitivity=LOW,
                                call_id="read-1", session_id="s1", agent_id=None)
    auto = await service.request(tool="exec", arguments={"cmd": "ls"}, sensitivity=HIGH,
                                 call_id="exec-1", session_id="s1", agent_id=None)
    assert (low.outcome, low.decided_by, low.auth_id) == ("approved", "auto", None)
    assert auto.approved and "auto_approve" in auto.reason
    assert await service.pending() == [] and required(facts) == []


async def test_medium_asks_once_per_session_for_the_same_arguments(
        make_service: MakeService, facts: list[Event], runtime: Runtime) -> None:
    service = await started(make_service)
    first = await ask(service, path="a.txt", text="hi")
    event = await asked(facts)
    assert event["tool_name"] == "write" and event["session_id"] == "s1"
    assert event["agent_id"] == "default" and event["call_id"] == "write-1"
    assert event["expires_at"] > 0 and '"path":"a.txt"' in event["arguments_summary"]
    [listed] = await service.pending()
    assert listed["auth_id"] == event["auth_id"] and listed["status"] == "pending"
    answer = await service.respond(event["auth_id"], True, None, "alice")
    assert answer["status"] == "approved" and answer["decided_by"] == "alice"
    decision = await first
    assert decision == Decision("approved", "alice", "approved by alice", event["auth_id"])
    # Same arguments in another key order: remembered. Other arguments or session: asks again.
    again = await service.request(tool="write", arguments={"text": "hi", "path": "a.txt"},
                                  sensitivity=MEDIUM, call_id="write-2", session_id="s1",
                                  agent_id="default")
    assert (again.outcome, again.decided_by) == ("approved", "session")
    other_args = await ask(service, path="b.txt")
    other_session = await ask(service, session_id="s2", path="a.txt", text="hi")
    await asked(facts, 3)
    assert len(await service.pending()) == 2
    await service.cancel_session("s1")
    await service.cancel_session("s2")
    assert (await other_args).outcome == (await other_session).outcome == "cancelled"
    records, _ = await runtime.audit.query(AuditQuery(action="tool_auth.approve"))
    assert [(r.operator, r.target) for r in records] == [("alice", f"tool_auth:{event['auth_id']}")]


async def test_remember_session_approves_the_tool_whatever_the_arguments(
        make_service: MakeService, facts: list[Event]) -> None:
    service = await started(make_service)
    task = await ask(service, path="a.txt")
    event = await asked(facts)
    answer = await service.respond(event["auth_id"], True, "session", "bob")
    assert answer["remember"] == "session" and answer["remembered"] is True
    assert (await task).approved
    later = await service.request(tool="write", arguments={"path": "other.txt"},
                                  sensitivity=MEDIUM, call_id="w", session_id="s1", agent_id=None)
    assert later.decided_by == "session" and later.approved
    elsewhere = await ask(service, session_id="s2", path="other.txt")
    await asked(facts, 2)
    await service.cancel_session("s2")
    assert (await elsewhere).outcome == "cancelled"
    service.forget_session("s1")
    forgotten = await ask(service, path="other.txt")
    await asked(facts, 3)
    await service.cancel_session("s1")
    assert (await forgotten).outcome == "cancelled"


async def test_high_asks_every_call_and_remember_does_not_apply(
        make_service: MakeService, facts: list[Event]) -> None:
    service = await started(make_service)
    for count in (1, 2):
        task = await ask(service, tool="exec", sensitivity=HIGH, cmd="ls")
        event = await asked(facts, count)
        answer = await service.respond(event["auth_id"], True, "session", "alice")
        assert answer["remembered"] is False and answer["remember"] is None
        assert (await task).approved


async def test_a_denial_is_returned_audited_and_announced(
        make_service: MakeService, facts: list[Event], runtime: Runtime) -> None:
    service = await started(make_service)
    task = await ask(service, path="secret.txt")
    event = await asked(facts)
    answer = await service.respond(event["auth_id"], False, None, "carol")
    decision = await task
    assert answer["status"] == "denied" and decision.outcome == "denied"
    assert decision.decided_by == "carol"
    await wait_for(lambda: len(resolved(facts)) == 1)
    assert resolved(facts)[0]["outcome"] == "denied"
    records, _ = await runtime.audit.query(AuditQuery(action="tool_auth.deny"))
    assert records[0].operator == "carol" and records[0].detail["tool"] == "write"
    # A denial is not remembered: the same call asks again.
    again = await ask(service, path="secret.txt")
    await asked(facts, 2)
    await service.cancel_session("s1")
    assert (await again).outcome == "cancelled"


async def test_no_answer_times_out(make_service: MakeService, facts: list[Event]) -> None:
    service = await started(make_service, approval_timeout_sec=0.1)
    decision = await service.request(tool="exec", arguments={"cmd": "ls"}, sensitivity=HIGH,
                                     call_id="exec-1", session_id="s1", agent_id=None)
    assert (decision.outcome, decision.decided_by) == ("timeout", "system")
    assert "tools.approval_timeout_sec" in decision.reason
    await wait_for(lambda: len(resolved(facts)) == 1)
    assert resolved(facts)[0]["outcome"] == "timeout"
    assert await service.pending() == []
    with pytest.raises(AuthNotFoundError, match="timeout"):
        await service.respond(decision.auth_id or "", True, None, "late")


async def test_a_second_answer_is_refused_and_changes_nothing(
        make_service: MakeService, facts: list[Event]) -> None:
    service = await started(make_service)
    task = await ask(service)
    event = await asked(facts)
    await service.respond(event["auth_id"], False, None, "alice")
    with pytest.raises(AlreadyAnsweredError) as refused:
        await service.respond(event["auth_id"], True, None, "mallory")
    assert refused.value.code == "already_answered" and "denied by alice" in str(refused.value)
    with pytest.raises(AlreadyAnsweredError):
        await service.respond(event["code"], True, None, "mallory")
    assert (await task).outcome == "denied"


async def test_unknown_auth_id_or_code_is_not_found(make_service: MakeService) -> None:
    service = await started(make_service)
    for key in ("0190aaaa-0000-7000-8000-000000000000", "ZZZZZZ", ""):
        with pytest.raises(AuthNotFoundError) as missing:
            await service.respond(key, True, None, "api")
        assert missing.value.code == "auth_not_found"


async def test_answers_by_code_in_any_case(make_service: MakeService, facts: list[Event]) -> None:
    service = await started(make_service)
    task = await ask(service)
    event = await asked(facts)
    code = event["code"]
    assert len(code) == 6 and code.isupper() and not set(code) & set("0O1IL")
    answer = await service.respond(f" {code.lower()} ", True, None, "im:dave")
    assert answer["auth_id"] == event["auth_id"] and (await task).decided_by == "im:dave"


async def test_cancel_session_cancels_only_that_session(make_service: MakeService,
                                                        facts: list[Event]) -> None:
    service = await started(make_service)
    mine = [await ask(service, tool="exec", sensitivity=HIGH, cmd=str(i)) for i in range(2)]
    theirs = await ask(service, tool="exec", sensitivity=HIGH, session_id="s2", cmd="x")
    await asked(facts, 3)
    assert await service.cancel_session("s1") == 2
    assert [(await t).outcome for t in mine] == ["cancelled", "cancelled"]
    assert [p["session_id"] for p in await service.pending()] == ["s2"]
    assert not theirs.done()
    await service.stop()
    assert (await theirs).reason == "the daemon is stopping"


async def test_a_cancelled_caller_leaves_nothing_pending(make_service: MakeService,
                                                         facts: list[Event]) -> None:
    service = await started(make_service)
    task = await ask(service, tool="exec", sensitivity=HIGH)
    await asked(facts)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: len(resolved(facts)) == 1)
    assert resolved(facts)[0]["outcome"] == "cancelled" and await service.pending() == []


async def test_a_restart_expires_what_was_left_pending(
        make_service: MakeService, facts: list[Event], runtime: Runtime) -> None:
    before = await started(make_service)  # the "previous run", which never gets to answer
    task = await ask(before, tool="exec", sensitivity=HIGH)
    event = await asked(facts)
    after = make_service()
    assert await after.start() == 1
    await wait_for(lambda: len(resolved(facts)) == 1)
    fact = resolved(facts)[0]
    assert (fact["auth_id"], fact["outcome"], fact["decided_by"]) == (
        event["auth_id"], "expired", "system")
    with pytest.raises(AuthNotFoundError, match="expired"):
        await after.respond(event["auth_id"], True, None, "api")
    records, _ = await runtime.audit.query(AuditQuery(action="tool_auth.expired"))
    assert len(records) == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_pending_requests_do_not_block_other_sessions(make_service: MakeService,
                                                            facts: list[Event]) -> None:
    service = await started(make_service)
    slow = await ask(service, session_id="s1")
    await asked(facts)
    fast = await ask(service, session_id="s2", tool="edit")
    event = await asked(facts, 2)
    await service.respond(event["auth_id"], True, None, "api")
    assert (await fast).approved and not slow.done()
    await service.cancel_session("s1")
    await slow


def test_summary_is_capped_and_masks_secrets() -> None:
    text = summarize({"url": "https://x", "headers": {"Authorization": "Bearer abc"},
                      "api_key": "k", "body": "y" * 1000})
    assert len(text) == SUMMARY_LIMIT and text.endswith("…")
    assert "abc" not in text and '"api_key":"***"' in text
