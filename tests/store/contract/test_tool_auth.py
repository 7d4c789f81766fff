"""Tool approval repository contract: requests in creation order, decided once."""

from __future__ import annotations

from dataclasses import replace

from aman.tools.model import ToolAuthRequest
from tests.store.contract.backends import Backend, Repositories


def request(auth_id: str, code: str = "ABC234", *, session: str | None = "s1",
            at: int = 1_000) -> ToolAuthRequest:
    return ToolAuthRequest(auth_id=auth_id, code=code, session_id=session, agent_id="main",
                           tool="exec", sensitivity="high", arguments_summary='{"cmd":"ls"}',
                           arguments_hash="f" * 64, call_id=f"call-{auth_id}", status="pending",
                           created_at=at, expires_at=at + 60_000)


async def test_a_request_comes_back_as_stored(store: Repositories) -> None:
    pending = request("a1", session=None)
    await store.tool_auth.insert(pending)
    assert await store.tool_auth.get("a1") == pending
    assert await store.tool_auth.get("missing") is None
    assert await store.tool_auth.get_by_code("NOPE22") is None


async def test_pending_requests_are_listed_oldest_first(store: Repositories) -> None:
    for auth_id in ("a1", "a2", "a3"):
        await store.tool_auth.insert(request(auth_id, code=f"C{auth_id}"))
    await store.tool_auth.decide(replace(request("a2"), status="approved", decided_by="alice",
                                         decided_at=2_000))
    assert [r.auth_id for r in await store.tool_auth.list_pending()] == ["a1", "a3"]


async def test_a_decision_is_stored_once(store: Repositories) -> None:
    await store.tool_auth.insert(request("a1"))
    denied = replace(request("a1"), status="denied", decided_by="alice", reason="not now",
                     remember="session", decided_at=2_000)
    await store.tool_auth.decide(denied)
    await store.tool_auth.decide(replace(request("a1"), status="approved", decided_by="bob",
                                         decided_at=3_000))
    assert await store.tool_auth.get("a1") == denied


async def test_a_code_finds_its_newest_request(store: Repositories) -> None:
    await store.tool_auth.insert(request("old", "XYZ789", at=1_000))
    await store.tool_auth.decide(replace(request("old", "XYZ789"), status="timeout",
                                         decided_by="system", decided_at=61_000))
    newer = request("new", "XYZ789", at=70_000)
    await store.tool_auth.insert(newer)
    assert await store.tool_auth.get_by_code("XYZ789") == newer


async def test_requests_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    await store.tool_auth.insert(request("a1"))
    reopened = await store_backend.reopen()
    assert await reopened.tool_auth.list_pending() == [request("a1")]
