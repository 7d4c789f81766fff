"""The openai adapter against a real HTTP server speaking Chat Completions."""

from __future__ import annotations

import time

import pytest

from aman.llm.openai import create
from aman.llm.provider import (
    Delta,
    LLMConnectionError,
    LLMNotConfiguredError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMServerError,
)
from tests.llm.fakes import FakeOpenAIServer, Reply, fail
from tests.llm.helpers import (
    ask,
    closed_port_url,
    collect,
    disconnects_after_stop,
    openai_settings,
)


async def test_streams_deltas_then_done_with_reported_usage(
        openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply("Hello there friend", usage=(11, 3)))
    provider = create("remote", openai_settings(openai_server.url, headers={"X-Team": "aman"}))
    try:
        chunks = [item async for item in provider.stream(ask("hi", max_tokens=20, temperature=0.1,
                                                              stop=("END",)))]
    finally:
        await provider.close()
    assert [c.text for c in chunks if isinstance(c, Delta)] == ["Hello ", "there ", "friend"]
    done = chunks[-1]
    assert (done.finish_reason, done.usage.input_tokens,
            done.usage.output_tokens) == ("stop", 11, 3)
    assert done.model == "fake-model"
    seen = openai_server.completions[0]
    assert seen.body["stream"] is True and seen.body["stream_options"] == {"include_usage": True}
    assert (seen.body["max_tokens"], seen.body["temperature"],
            seen.body["stop"]) == (20, 0.1, ["END"])
    assert seen.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert seen.headers["authorization"] == "Bearer sk-test" and seen.headers["x-team"] == "aman"


async def test_finish_reason_length_is_passed_on(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply("cut short", finish_reason="length"))
    provider = create("remote", openai_settings(openai_server.url))
    text, done = await collect(provider.stream(ask()))
    await provider.close()
    assert text == "cut short" and done.finish_reason == "length"


@pytest.mark.parametrize(("reply", "error", "retry_after"), [
    (fail(429, retry_after=2), LLMRateLimitedError, 2.0),
    (fail(500), LLMServerError, None),
    (fail(503, retry_after=1), LLMServerError, 1.0),
    (fail(400, error="bad model"), LLMRequestError, None),
    (fail(401, error="invalid key"), LLMRequestError, None),
])
async def test_http_failures_become_provider_errors(openai_server: FakeOpenAIServer, reply: Reply,
                                                    error: type, retry_after: float | None) -> None:
    openai_server.script(reply)
    provider = create("remote", openai_settings(openai_server.url))
    with pytest.raises(error) as caught:
        await collect(provider.stream(ask()))
    await provider.close()
    assert caught.value.retry_after_sec == retry_after
    assert caught.value.provider == "remote" and "remote" in caught.value.message
    assert reply.error in caught.value.message
    assert len(openai_server.completions) == 1  # the SDK itself never retries


async def test_unreachable_server_is_a_connection_error() -> None:
    provider = create("remote", openai_settings(closed_port_url()))
    with pytest.raises(LLMConnectionError) as caught:
        await collect(provider.stream(ask()))
    await provider.close()
    assert caught.value.retryable


async def test_connection_dropped_mid_stream_is_a_connection_error(
        openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply("one two three four", drop_after=2))
    provider = create("remote", openai_settings(openai_server.url))
    got: list[str] = []
    with pytest.raises(LLMConnectionError):
        async for item in provider.stream(ask()):
            if isinstance(item, Delta):
                got.append(item.text)
    await provider.close()
    assert got == ["one ", "two "]


async def test_slow_first_token_waits_within_the_timeout(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply("late", first_token_delay=0.3))
    provider = create("remote", openai_settings(openai_server.url))
    started = time.monotonic()
    text, _ = await collect(provider.stream(ask()))
    await provider.close()
    assert text == "late" and time.monotonic() - started >= 0.3


async def test_read_timeout_is_a_connection_error(openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply("too late", first_token_delay=1.0))
    provider = create("remote", openai_settings(openai_server.url, timeout_sec=0.2))
    with pytest.raises(LLMConnectionError):
        await collect(provider.stream(ask()))
    await provider.close()


async def test_closing_the_stream_closes_the_http_response(openai_server: FakeOpenAIServer) -> None:
    provider = create("remote", openai_settings(openai_server.url))
    assert await disconnects_after_stop(provider, openai_server) == 1


async def test_probe_lists_models(openai_server: FakeOpenAIServer) -> None:
    provider = create("remote", openai_settings(openai_server.url))
    await provider.probe()
    openai_server.models_reply = fail(500, error="models down")
    with pytest.raises(LLMServerError, match="models down"):
        await provider.probe()
    await provider.close()
    assert [r.path for r in openai_server.requests] == ["/v1/models", "/v1/models"]


def test_missing_model_or_key_is_not_configured() -> None:
    with pytest.raises(LLMNotConfiguredError, match="no model"):
        create("remote", openai_settings("http://127.0.0.1:1/v1", model=""))
    with pytest.raises(LLMNotConfiguredError, match="api_key") as caught:
        create("remote", openai_settings(None, api_key=""))  # type: ignore[arg-type]
    assert "llm.providers.remote.api_key" in caught.value.hint


async def test_self_hosted_server_needs_no_key(openai_server: FakeOpenAIServer) -> None:
    provider = create("ollama", openai_settings(openai_server.url, api_key=""))
    text, _ = await collect(provider.stream(ask("ping")))
    await provider.close()
    assert text == "You said: ping"


async def test_tool_calls_are_offered_assembled_and_sent_back(
        openai_server: FakeOpenAIServer) -> None:
    from aman.llm.provider import ChatMessage, CompletionRequest, ToolCall, ToolSpec

    openai_server.script(Reply("", chunks=[], finish_reason="tool_calls", tool_calls=[
        ("c1", "read", '{"path": "a.txt"}'), ("c2", "list", "{}")]))
    provider = create("remote", openai_settings(openai_server.url))
    spec = ToolSpec("read", "Read a file", {"type": "object", "properties": {}})
    history = (ChatMessage("user", "hi"),
               ChatMessage("assistant", "", tool_calls=(ToolCall("c0", "list", {}),)),
               ChatMessage("tool", "a.txt", tool_call_id="c0", name="list"))
    try:
        items = [i async for i in provider.stream(CompletionRequest(history, tools=(spec,)))]
    finally:
        await provider.close()
    calls = [i for i in items if isinstance(i, ToolCall)]
    assert calls == [ToolCall("c1", "read", {"path": "a.txt"}), ToolCall("c2", "list", {})]
    assert items[-1].finish_reason == "tool_calls"
    body = openai_server.completions[0].body
    assert body["tools"][0] == {"type": "function", "function": {
        "name": "read", "description": "Read a file", "parameters": spec.parameters}}
    assert body["messages"][1]["tool_calls"][0]["function"] == {"name": "list", "arguments": "{}"}
    assert body["messages"][2] == {"role": "tool", "tool_call_id": "c0", "content": "a.txt"}
