"""Fixtures: fake provider servers, a fact recorder standing in for the bus, provider settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aman.config.agents import LlmSettings, ProviderSettings
from aman.llm.provider import ChatMessage, CompletionRequest
from tests.llm.fakes import FakeAnthropicServer, FakeOpenAIServer, Reply


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


class Facts:
    """Records ``emit`` calls (the bus's fact interface)."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = "") -> None:
        self.emitted.append((event_type, payload))

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [p for t, p in self.emitted if t == event_type]


@pytest.fixture
def facts() -> Facts:
    return Facts()


def openai_settings(url: str, **extra: Any) -> ProviderSettings:
    return ProviderSettings.model_validate(
        {"kind": "openai", "model": "fake-model", "base_url": url, "api_key": "sk-test", **extra})


def llm_settings(default: str, **providers: ProviderSettings) -> LlmSettings:
    return LlmSettings(default_provider=default, providers=providers)


def ask(text: str = "hello", **options: Any) -> CompletionRequest:
    return CompletionRequest(messages=(ChatMessage("system", "Be brief."),
                                       ChatMessage("user", text)), **options)


def closed_port_url() -> str:
    """A base URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def collect(items: Any) -> tuple[str, Any]:
    """Join a stream's deltas; return (text, the Done item)."""
    from aman.llm.provider import Delta, Done

    text, done = "", None
    async for item in items:
        if isinstance(item, Delta):
            text += item.text
        elif isinstance(item, Done):
            done = item
    return text, done


async def disconnects_after_stop(provider: Any, server: Any) -> int:
    """Stop a long reply after its first delta; return how many streams the server saw closed."""
    import asyncio
    import time

    from aman.llm.provider import Delta

    server.script(Reply(" ".join(["word"] * 200), token_delay=0.02))
    items = provider.stream(ask())
    async for item in items:
        if isinstance(item, Delta):
            break
    await items.aclose()
    deadline = time.monotonic() + 3
    while server.disconnects == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await provider.close()
    return int(server.disconnects)
