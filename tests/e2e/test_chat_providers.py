"""Provider failure through the real daemon: down → fallback → llm_backend_down → recovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync
from tests.llm.fakes import FakeOpenAIServer, Reply, fail

pytestmark = pytest.mark.e2e


@pytest.fixture
def primary() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def ask(daemon: Daemon, session_id: str, text: str) -> dict[str, Any]:
    response = daemon.client.post(f"/chat/session/{session_id}/send",
                                  json={"text": text, "wait": True})
    assert response.status_code == 200, response.text
    return dict(response.json()["reply"])


def llm_notification(daemon: Daemon, title_part: str) -> list[dict[str, Any]]:
    """The llm notifications whose title names ``title_part`` (they are stored asynchronously)."""
    def stored() -> list[dict[str, Any]]:
        items = daemon.client.get("/notifications").json()["items"]
        return [n for n in items if n["category"] == "llm" and title_part in n["title"]]

    return wait_for_sync(stored, what=f"an llm notification naming {title_part}")


def test_fallback_then_backend_down_then_recovery(start_daemon: StartDaemon,
                                                  primary: FakeOpenAIServer) -> None:
    daemon = start_daemon(extra_config={
        "llm": {"default_provider": "primary", "providers": {
            "primary": {"kind": "openai", "base_url": primary.url, "api_key": "k",
                        "model": "fake-model", "max_retries": 0, "fallbacks": ["backup"]},
            "backup": {"kind": "scripted", "replies": ["backup answers"]}}},
        "agents": {"aman": {"display_name": "Aman"}},
    })
    session = daemon.client.post("/chat/session/create", json={}).json()["id"]

    # The primary answers 500 three times: each reply comes from the fallback.
    primary.script(fail(500), fail(500), fail(500))
    for n in range(3):
        reply = ask(daemon, session, f"question {n}")
        assert reply["content"] == "backup answers", reply
    recent = daemon.client.get("/events/recent?limit=500").json()["items"]
    fallbacks = [e for e in recent if e["event_type"] == "llm:fallback"]
    assert len(fallbacks) == 3
    assert fallbacks[0]["payload"]["to"] == "backup"
    down = llm_notification(daemon, "llm_backend_down")
    assert len(down) == 1 and down[0]["severity"] == "critical" and "primary" in down[0]["title"]

    # The primary is back: its reply, and one recovery notice.
    primary.script(Reply(text="primary is back"))
    assert ask(daemon, session, "again")["content"] == "primary is back"
    recovered = llm_notification(daemon, "llm_backend_recovered")
    assert len(recovered) == 1 and recovered[0]["severity"] == "info"
    assert daemon.client.get("/health/llm").status_code == 200
