"""POST /tool-auth/respond and GET /tool-auth/pending through the served app."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aman.audit.model import AuditQuery
from aman.core.runtime import Runtime
from aman.tools.approvals import Decision
from aman.tools.model import Sensitivity
from tests.helpers import wait_for

if TYPE_CHECKING:  # a module-level name starting with "Test" would be collected by pytest
    from quart.typing import TestClientProtocol


async def pending_request(runtime: Runtime, client: TestClientProtocol, *, session: str = "s1",
                          sensitivity: Sensitivity = Sensitivity.MEDIUM,
                          ) -> tuple[asyncio.Task[Decision], dict[str, Any]]:
    """Ask the runtime's service as the agent loop will; return the task and the listed request."""
    listing = await (await client.get("/tool-auth/pending")).get_json()
    before = {p["auth_id"] for p in listing["items"]}
    task = asyncio.create_task(runtime.approvals.request(
        tool="write", arguments={"path": "notes.md", "text": "hi"}, sensitivity=sensitivity,
        call_id="write-1", session_id=session, agent_id="default"))
    found: list[dict[str, Any]] = []

    async def poll() -> None:
        items = (await (await client.get("/tool-auth/pending")).get_json())["items"]
        found[:] = [p for p in items if p["auth_id"] not in before]

    async def listed() -> bool:
        await poll()
        return bool(found)

    await wait_for(listed, what="the request to be listed as pending")
    return task, found[0]


async def test_pending_lists_open_requests_and_respond_approves(
        runtime: Runtime, client: TestClientProtocol) -> None:
    task, item = await pending_request(runtime, client)
    assert item["tool_name"] == "write" and item["status"] == "pending"
    assert set(item) >= {"auth_id", "code", "session_id", "agent_id", "arguments_summary",
                         "call_id", "expires_at", "created_at"}
    response = await client.post("/tool-auth/respond", json={"auth_id": item["auth_id"],
                                 "approved": True, "remember": "session"},
                                 headers={"x-aman-operator": "alice"})
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["status"], body["decided_by"], body["remembered"]) == ("approved", "alice", True)
    assert (await task).approved
    assert (await (await client.get("/tool-auth/pending")).get_json())["items"] == []
    # One audit record for the decision, named by the service, not a second by the trail.
    records, _ = await runtime.audit.query(AuditQuery(action="tool_auth.*"))
    assert [(r.action, r.operator) for r in records] == [("tool_auth.approve", "alice")]


async def test_respond_by_code_denies(runtime: Runtime, client: TestClientProtocol) -> None:
    task, item = await pending_request(runtime, client, sensitivity=Sensitivity.HIGH)
    response = await client.post("/tool-auth/respond",
                                 json={"auth_id": item["code"], "approved": False})
    assert response.status_code == 200 and (await response.get_json())["status"] == "denied"
    decision = await task
    assert (decision.outcome, decision.decided_by) == ("denied", "api")


async def test_second_answer_is_409_and_unknown_is_404(runtime: Runtime,
                                                        client: TestClientProtocol) -> None:
    task, item = await pending_request(runtime, client)
    ok = await client.post("/tool-auth/respond",
                           json={"auth_id": item["auth_id"], "approved": True})
    assert ok.status_code == 200
    again = await client.post("/tool-auth/respond",
                              json={"auth_id": item["auth_id"], "approved": False})
    assert again.status_code == 409
    error = (await again.get_json())["error"]
    assert error["code"] == "already_answered" and "approved by api" in error["message"]
    assert (await task).approved
    missing = await client.post("/tool-auth/respond", json={"auth_id": "nope", "approved": True})
    assert missing.status_code == 404
    error = (await missing.get_json())["error"]
    assert error["code"] == "auth_not_found" and "/tool-auth/pending" in error["hint"]
    records, _ = await runtime.audit.query(AuditQuery(action="tool_auth.respond"))
    assert sorted(r.outcome for r in records) == ["rejected", "rejected"]


async def test_invalid_bodies_name_the_field(runtime: Runtime, client: TestClientProtocol) -> None:
    for body, field in (({"approved": True}, "auth_id"), ({"auth_id": "x"}, "approved"),
                        ({"auth_id": "x", "approved": True, "remember": "forever"}, "remember"),
                        ({"auth_id": "x", "approved": True, "extra": 1}, "extra")):
        response = await client.post("/tool-auth/respond", json=body)
        assert response.status_code == 400, body
        assert field in (await response.get_data(as_text=True))


async def test_stopping_the_runtime_cancels_waiters(runtime: Runtime,
                                                    client: TestClientProtocol) -> None:
    task, _ = await pending_request(runtime, client)
    await runtime.stop()
    decision = await task
    assert decision.outcome == "cancelled"
    await wait_for(lambda: task.done())
