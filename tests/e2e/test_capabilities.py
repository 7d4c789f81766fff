"""Capabilities through the real daemon: the LLM provider goes down and comes back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync
from tests.llm.fakes import FakeOpenAIServer, fail

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def statuses(daemon: Daemon) -> dict[str, str]:
    response = daemon.client.get("/capabilities")
    assert response.status_code == 200, response.text
    return {name: entries[0]["status"] for name, entries in response.json().items()}


def wait_statuses(daemon: Daemon, wanted: dict[str, str],
                  timeout: float = 15.0) -> dict[str, str]:
    def reached() -> dict[str, str] | None:
        found = statuses(daemon)
        return found if all(found.get(n) == s for n, s in wanted.items()) else None

    return wait_for_sync(reached, timeout, what=f"capability statuses {wanted}")


def updates(daemon: Daemon, count: int) -> list[dict[str, Any]]:
    """The ``capability_registry_updated`` payloads, once there are ``count`` (events are
    stored a moment after they are emitted)."""
    def stored() -> list[dict[str, Any]]:
        items = daemon.client.get("/events/recent?limit=1000").json()["items"]
        found = [e["payload"] for e in sorted(items, key=lambda e: e["seq"])
                 if e["event_type"] == "capability_registry_updated"]
        return found if len(found) >= count else []

    found = wait_for_sync(stored, what=f"{count} capability_registry_updated event(s)")
    assert len(found) == count, found
    return found


def test_capabilities_follow_the_provider_down_and_back(start_daemon: StartDaemon,
                                                       provider: FakeOpenAIServer) -> None:
    daemon = start_daemon(extra_config={
        "llm": {"default_provider": "primary", "probe_interval_sec": 1, "providers": {
            "primary": {"kind": "openai", "base_url": provider.url, "api_key": "k",
                        "model": "fake-model", "max_retries": 0}}},
        "agents": {"aman": {"display_name": "Aman", "provider": "primary"}},
        "channels": {"telegram": {"mybot": {"secret": "s"}}},
    })
    found = wait_statuses(daemon, {"chat": "healthy", "llm": "healthy"})
    assert {"chat", "llm", "tools", "workflows", "cron", "explore",
            "im:telegram:mybot"} <= set(found)
    first = updates(daemon, 1)
    assert "chat" in first[0]["added"] and "im:telegram:mybot" in first[0]["added"]

    # The provider's health probe fails (every llm.probe_interval_sec): after three it is down.
    provider.models_reply = fail(500)
    found = wait_statuses(daemon, {"chat": "degraded", "llm": "degraded"})
    assert found["tools"] == "healthy" and found["im:telegram:mybot"] == "healthy"
    assert updates(daemon, 2)[-1]["changed"] == ["chat", "llm"]

    # It answers again: the next probe brings both back.
    provider.models_reply = None
    wait_statuses(daemon, {"chat": "healthy", "llm": "healthy"})
    last = updates(daemon, 3)
    assert last[-1]["changed"] == ["chat", "llm"]
    assert last[-1]["added"] == [] and last[-1]["removed"] == []
