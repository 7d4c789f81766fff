"""Requests, settings and stream readers the provider tests share."""

from __future__ import annotations

import socket
from typing import Any

from aman.config.agents import LlmSettings, ProviderSettings
from aman.llm.provider import ChatMessage, CompletionRequest, Delta, Done
from tests.helpers import wait_for
from tests.llm.fakes import Reply


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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def collect(items: Any) -> tuple[str, Any]:
    """Join a stream's deltas; return (text, the Done item)."""
    text, done = "", None
    async for item in items:
        if isinstance(item, Delta):
            text += item.text
        elif isinstance(item, Done):
            done = item
    return text, done


async def disconnects_after_stop(provider: Any, server: Any) -> int:
    """Stop a long reply after its first delta; return how many streams the server saw closed."""
    server.script(Reply(" ".join(["word"] * 200), token_delay=0.02))
    items = provider.stream(ask())
    async for item in items:
        if isinstance(item, Delta):
            break
    await items.aclose()
    await wait_for(lambda: server.disconnects, what="the server to see the stream closed")
    await provider.close()
    return int(server.disconnects)
