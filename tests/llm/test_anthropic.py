"""The anthropic adapter against a real HTTP server speaking the Messages streaming API."""

from __future__ import annotations

from typing import Any

import pytest

from aman.config.agents import ProviderSettings
from aman.llm.anthropic import DEFAULT_MAX_TOKENS, create
from aman.llm.provider import (
    ChatMessage,
    CompletionRequest,
    Delta,
    LLMConnectionError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMServerError,
    ToolCall,
    ToolSpec,
)
from tests.llm.fakes import FakeAnthropicServer, Reply, fail
from tests.llm.helpers import ask, collect, disconnects_after_stop


def settings(url: str, **extra: Any) -> ProviderSettings:
    return ProviderSettings.model_validate(
        {"kind": "anthropic", "model": "claude-fake", "base_url": url, "api_key": "ak-test",
         **extra})


async def test_streams_deltas_with_system_as_parameter(
        anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Reply("Bonjour mon ami", usage=(21, 4)))
    provider = create("claude", settings(anthropic_server.url, headers={"X-Team": "aman"}))
    request = CompletionRequest(messages=(ChatMessage("system", "Be brief."),
                                          ChatMessage("user", "salut")),
                                temperature=0.2, stop=("END",))
    items = [item async for item in provider.stream(request)]
    await provider.close()
    assert [i.text for i in items if isinstance(i, Delta)] == ["Bonjour ", "mon ", "ami"]
    done = items[-1]
    assert (done.finish_reason, done.usage.input_tokens,
            done.usage.output_tokens) == ("stop", 21, 4)
    body = anthropic_server.completions[0].body
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "salut"}]
    assert body["stream"] is True and body["max_tokens"] == DEFAULT_MAX_TOKENS
    assert (body["temperature"], body["stop_sequences"]) == (0.2, ["END"])
    headers = anthropic_server.completions[0].headers
    assert headers["x-api-key"] == "ak-test" and headers["x-team"] == "aman"


async def test_max_tokens_stop_reason_is_length(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Reply("partial", finish_reason="length"))
    provider = create("claude", settings(anthropic_server.url))
    _, done = await collect(provider.stream(ask(max_tokens=3)))
    await provider.close()
    assert done.finish_reason == "length"
    assert anthropic_server.completions[0].body["max_tokens"] == 3


@pytest.mark.parametrize(("reply", "error", "retry_after"), [
    (fail(429, retry_after=3), LLMRateLimitedError, 3.0),
    (fail(500), LLMServerError, None),
    (fail(529, error="overloaded"), LLMServerError, None),
    (fail(400, error="bad request"), LLMRequestError, None),
])
async def test_http_failures_become_provider_errors(anthropic_server: FakeAnthropicServer,
                                                    reply: Reply, error: type,
                                                    retry_after: float | None) -> None:
    anthropic_server.script(reply)
    provider = create("claude", settings(anthropic_server.url))
    with pytest.raises(error) as caught:
        await collect(provider.stream(ask()))
    await provider.close()
    assert caught.value.retry_after_sec == retry_after and reply.error in caught.value.message
    assert len(anthropic_server.completions) == 1


async def test_connection_dropped_mid_stream_is_a_connection_error(
        anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Reply("a b c d", drop_after=1))
    provider = create("claude", settings(anthropic_server.url))
    got: list[str] = []
    with pytest.raises(LLMConnectionError):
        async for item in provider.stream(ask()):
            if isinstance(item, Delta):
                got.append(item.text)
    await provider.close()
    assert got == ["a "]


async def test_closing_the_stream_closes_the_http_response(
        anthropic_server: FakeAnthropicServer) -> None:
    provider = create("claude", settings(anthropic_server.url))
    assert await disconnects_after_stop(provider, anthropic_server) == 1


async def test_probe_lists_models(anthropic_server: FakeAnthropicServer) -> None:
    provider = create("claude", settings(anthropic_server.url))
    await provider.probe()
    anthropic_server.models_reply = fail(401, error="invalid x-api-key")
    with pytest.raises(LLMRequestError, match="invalid x-api-key") as caught:
        await provider.probe()
    await provider.close()
    assert "llm.providers.claude.api_key" in caught.value.hint


async def test_tool_use_is_offered_assembled_and_sent_back(
        anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.script(Reply("Let me look.", finish_reason="tool_calls", tool_calls=[
        ("tu1", "read", '{"path": "a.txt"}'), ("tu2", "list", "{}"), ("tu3", "read", '{"pa')]))
    provider = create("claude", settings(anthropic_server.url))
    spec = ToolSpec("read", "Read a file", {"type": "object", "properties": {}})
    history = (ChatMessage("system", "Be brief."),
               ChatMessage("user", "hi"),
               ChatMessage("assistant", "Checking.", tool_calls=(
                   ToolCall("c0", "list", {}), ToolCall("c1", "read", {"path": "b"}))),
               ChatMessage("tool", "a.txt", tool_call_id="c0", name="list"),
               ChatMessage("tool", "bee", tool_call_id="c1", name="read"),
               ChatMessage("assistant", "", tool_calls=(ToolCall("c2", "list", {}),)),
               ChatMessage("tool", "none", tool_call_id="c2", name="list"))
    try:
        items = [i async for i in provider.stream(CompletionRequest(history, tools=(spec,)))]
    finally:
        await provider.close()
    assert "".join(i.text for i in items if isinstance(i, Delta)) == "Let me look."
    calls = [i for i in items if isinstance(i, ToolCall)]
    assert calls == [ToolCall("tu1", "read", {"path": "a.txt"}), ToolCall("tu2", "list", {}),
                     ToolCall("tu3", "read", {"_invalid_json": '{"pa'})]
    assert items[-1].finish_reason == "tool_calls"
    body = anthropic_server.completions[0].body
    assert body["tools"] == [{"name": "read", "description": "Read a file",
                              "input_schema": spec.parameters}]
    assert body["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "c0", "name": "list", "input": {}},
            {"type": "tool_use", "id": "c1", "name": "read", "input": {"path": "b"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c0", "content": "a.txt"},
            {"type": "tool_result", "tool_use_id": "c1", "content": "bee"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "c2", "name": "list", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c2", "content": "none"}]},
    ]


async def test_no_tools_offered_when_the_request_has_none(
        anthropic_server: FakeAnthropicServer) -> None:
    provider = create("claude", settings(anthropic_server.url))
    await collect(provider.stream(ask()))
    await provider.close()
    assert "tools" not in anthropic_server.completions[0].body
