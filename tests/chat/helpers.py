"""Shared helpers of the chat tests: scripted-provider settings and waiting on a session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.helpers import SettingsFactory, wait_for

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol


def scripted(make_settings: SettingsFactory, *replies: str, token_ms: int = 0,
             first_token_ms: int = 0, **overrides: Any) -> Any:
    """Settings with one scripted provider ``s`` as the default."""
    provider = {"kind": "scripted", "replies": list(replies) or ["You said: {input}"],
                "token_ms": token_ms, "first_token_ms": first_token_ms}
    return make_settings(**{"llm.providers": {"s": provider}, "llm.default_provider": "s",
                            **overrides})


async def create_session(client: TestClientProtocol, **body: Any) -> dict[str, Any]:
    """POST /chat/session/create; assert 201."""
    response = await client.post("/chat/session/create", json=body)
    assert response.status_code == 201, await response.get_data(as_text=True)
    return dict(await response.get_json())


async def state_of(client: TestClientProtocol, session_id: str) -> dict[str, Any]:
    """GET /chat/session/{id}/state."""
    response = await client.get(f"/chat/session/{session_id}/state")
    assert response.status_code == 200
    return dict(await response.get_json())


async def settle(client: TestClientProtocol, session_id: str, *states: str,
                 timeout: float = 5.0) -> dict[str, Any]:
    """Poll the session until its state is one of ``states`` (idle by default)."""
    wanted = states or ("idle",)
    found: dict[str, Any] = {}

    async def check() -> bool:
        found.update(await state_of(client, session_id))
        return found["state"] in wanted and not any(
            m["status"] == "streaming" for m in found["messages"])

    await wait_for(check, timeout, what=f"session {session_id} to settle in {wanted}")
    return found

