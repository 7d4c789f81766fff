"""Capabilities through the real daemon: the LLM provider goes down and comes back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
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


def wait_for(daemon: Daemon, wanted: dict[str, str], timeout: float = 15.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        found = statuses(daemon)
        if all(found.get(name) == status for name, status in wanted.items()):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"wanted {wanted}, have {found}\n{daemon.output()}")
        time.sleep(0.1)


def updates(daemon: Daemon, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The ``capability_registry_updated`` payloads, once there are ``count`` (events are
    stored a moment after they are emitted)."""
    deadline = time.monotonic() + timeout
    while True:
        items = daemon.client.get("/events/recent?limit=1000").json()["items"]
        found = [e["payload"] for e in sorted(items, key=lambda e: e["seq"])
                 if e["event_type"] == "capability_registry_updated"]
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) == count, found
            return found
        time.sleep(0.05)


def test_capabilities_follow_the_provider_down_and_back(start_daemon: StartDaemon,
                                                       provider: FakeOpenAIServer) -> None:
    daemon = start_daemon(extra_config={
        "llm": {"default_provider": "primary", "probe_interval_sec": 1, "providers": {
            "primary": {"kind": "openai", "base_url": provider.url, "api_key": "k",
                        "model": "fake-model", "max_retries": 0}}},
        "agents": {"aman": {"display_name": "Aman", "provider": "primary"}},
        "channels": {"telegram": {"mybot": {"secret": "s"}}},
    })
    found = wait_for(daemon, {"chat": "healthy", "llm": "healthy"})
    assert {"chat", "llm", "tools", "workflows", "cron", "explore",
            "im:telegram:mybot"} <= set(found)
    first = updates(daemon, 1)
    assert "chat" in first[0]["added"] and "im:telegram:mybot" in first[0]["added"]

    # The provider's health probe fails (every llm.probe_interval_sec): after three it is down.
    provider.models_reply = fail(500)
    found = wait_for(daemon, {"chat": "degraded", "llm": "degraded"})
    assert found["tools"] == "healthy" and found["im:telegram:mybot"] == "healthy"
    assert updates(daemon, 2)[-1]["changed"] == ["chat", "llm"]

    # It answers again: the next probe brings both back.
    provider.models_reply = None
    wait_for(daemon, {"chat": "healthy", "llm": "healthy"})
    last = updates(daemon, 3)
    assert last[-1]["changed"] == ["chat", "llm"]
    assert last[-1]["added"] == [] and last[-1]["removed"] == []
