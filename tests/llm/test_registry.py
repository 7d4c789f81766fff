"""The registry's failure policy against the fake OpenAI server: retries, fallbacks, down/recovered,
facts and metrics."""

from __future__ import annotations

from typing import Any

import pytest

from aman.config.agents import LlmSettings, ProviderSettings
from aman.llm.provider import Delta, LLMConnectionError, LLMNotConfiguredError, LLMServerError
from aman.llm.registry import (
    BACKEND_DOWN,
    BACKEND_RECOVERED,
    CALL_ENDED,
    CALL_STARTED,
    FALLBACK,
    ProviderRegistry,
)
from aman.metrics import Metrics
from tests.helpers import FakeBus, ManualClock
from tests.llm.fakes import FakeOpenAIServer, Reply, fail
from tests.llm.helpers import ask, closed_port_url, collect, openai_settings


def build(llm: LlmSettings, facts: FakeBus, metrics: Metrics | None = None,
          clock: ManualClock | None = None) -> ProviderRegistry:
    """A registry whose backoff sleeps move a manual clock instead of waiting."""
    return ProviderRegistry(lambda: llm, bus=facts, metrics=metrics,
                            clock=clock or ManualClock(autojump=True))


def one(url: str, **extra: Any) -> LlmSettings:
    return LlmSettings(default_provider="main", providers={"main": openai_settings(url, **extra)})


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_retries_honour_retry_after(openai_server: FakeOpenAIServer, facts: FakeBus) -> None:
    openai_server.script(fail(429, retry_after=2), fail(503), Reply("finally"))
    clock = ManualClock(autojump=True)
    registry = build(one(openai_server.url, max_retries=2), facts, clock=clock)
    text, done = await collect(registry.stream(None, ask()))
    await registry.close()
    assert text == "finally" and done.finish_reason == "stop"
    assert clock.slept == [2.0, 1.0]  # Retry-After, then backoff 0.5 * 2**1
    assert len(openai_server.completions) == 3
    ended = facts.of(CALL_ENDED)
    assert len(ended) == 1 and ended[0]["result"] == "ok" and ended[0]["attempts"] == 3


async def test_retries_stop_after_max_retries(openai_server: FakeOpenAIServer,
                                              facts: FakeBus) -> None:
    openai_server.script(fail(500), fail(500), fail(500))
    clock = ManualClock(autojump=True)
    registry = build(one(openai_server.url, max_retries=1), facts, clock=clock)
    with pytest.raises(LLMServerError):
        await collect(registry.stream("main", ask()))
    await registry.close()
    assert clock.slept == [0.5] and len(openai_server.completions) == 2


async def test_request_errors_are_not_retried(openai_server: FakeOpenAIServer,
                                              facts: FakeBus) -> None:
    openai_server.script(fail(400, error="bad model"))
    registry = build(one(openai_server.url), facts)
    with pytest.raises(Exception, match="bad model"):
        await collect(registry.stream(None, ask()))
    await registry.close()
    assert len(openai_server.completions) == 1


async def test_no_retry_once_text_has_streamed(openai_server: FakeOpenAIServer,
                                               facts: FakeBus) -> None:
    openai_server.script(Reply("one two three", drop_after=2))
    registry = build(one(openai_server.url, max_retries=3), facts)
    got: list[str] = []
    with pytest.raises(LLMConnectionError):
        async for item in registry.stream(None, ask()):
            if isinstance(item, Delta):
                got.append(item.text)
    await registry.close()
    assert got == ["one ", "two "] and len(openai_server.completions) == 1
    assert facts.of(CALL_ENDED)[0]["result"] == "error"


async def test_fallbacks_are_tried_in_order_and_announced(openai_server: FakeOpenAIServer,
                                                          facts: FakeBus) -> None:
    openai_server.script(fail(500, error="primary broke"), Reply("from the backup"))
    llm = LlmSettings(default_provider="primary", providers={
        "primary": openai_settings(openai_server.url, max_retries=0,
                                   fallbacks=["unreachable", "backup"]),
        "unreachable": openai_settings(closed_port_url(), max_retries=0),
        "backup": openai_settings(openai_server.url, model="backup-model"),
    })
    registry = build(llm, facts)
    text, done = await collect(registry.stream(None, ask(), context={"session_id": "s1"}))
    await registry.close()
    assert text == "from the backup" and done.model == "backup-model"
    switches = [(f["from"], f["to"]) for f in facts.of(FALLBACK)]
    assert switches == [("primary", "unreachable"), ("unreachable", "backup")]
    first = facts.of(FALLBACK)[0]
    assert "primary broke" in first["error"] and first["session_id"] == "s1"
    assert [e["provider"] for e in facts.of(CALL_ENDED)] == ["primary", "unreachable", "backup"]


async def test_every_provider_failing_raises_the_primary_error(openai_server: FakeOpenAIServer,
                                                               facts: FakeBus) -> None:
    openai_server.script(fail(500, error="primary broke"))
    llm = LlmSettings(default_provider="primary", providers={
        "primary": openai_settings(openai_server.url, max_retries=0, fallbacks=["offline"]),
        "offline": ProviderSettings(kind="local", model_path="/nonexistent/model.gguf"),
    })
    registry = build(llm, facts)
    with pytest.raises(LLMServerError, match="primary broke") as caught:
        await collect(registry.stream(None, ask()))
    await registry.close()
    assert caught.value.details["fallbacks"][0]["provider"] == "offline"
    assert caught.value.details["fallbacks"][0]["code"] == "llm_not_configured"


async def test_third_consecutive_failure_is_backend_down_and_next_success_recovered(
        openai_server: FakeOpenAIServer, facts: FakeBus) -> None:
    openai_server.script(*[fail(500)] * 4, Reply("back"))
    registry = build(one(openai_server.url, max_retries=0), facts)
    for _ in range(4):
        with pytest.raises(LLMServerError):
            await collect(registry.stream(None, ask()))
        assert len(facts.of(BACKEND_DOWN)) == (0 if registry.health("main").consecutive_failures < 3
                                               else 1)
    assert facts.of(BACKEND_DOWN) == [{"provider": "main", "failures": 3,
                                       "code": "llm_server_error",
                                       "error": facts.of(BACKEND_DOWN)[0]["error"]}]
    assert registry.health("main").down and not facts.of(BACKEND_RECOVERED)
    text, _ = await collect(registry.stream(None, ask()))
    await registry.close()
    assert text == "back" and facts.of(BACKEND_RECOVERED) == [{"provider": "main"}]
    assert not registry.health("main").down and registry.health("main").consecutive_failures == 0


async def test_call_facts_carry_model_tokens_latency_and_context(openai_server: FakeOpenAIServer,
                                                                 facts: FakeBus) -> None:
    openai_server.script(Reply("a b c", usage=(12, 3), first_token_delay=0.05))
    registry = build(one(openai_server.url), facts)
    context = {"session_id": "s1", "agent_id": "aman", "message_id": "m1"}
    await collect(registry.stream(None, ask(), context=context))
    await registry.close()
    [started] = facts.of(CALL_STARTED)
    [ended] = facts.of(CALL_ENDED)
    assert started["provider"] == "main" and started["model"] == "fake-model"
    assert started["input_tokens_estimate"] > 0 and started.items() >= context.items()
    assert ended.items() >= context.items()
    assert (ended["input_tokens"], ended["output_tokens"], ended["result"]) == (12, 3, "ok")
    assert ended["time_to_first_token_ms"] >= 50
    assert ended["latency_ms"] >= ended["time_to_first_token_ms"]


async def test_metrics_count_requests_tokens_and_latency(openai_server: FakeOpenAIServer,
                                                         facts: FakeBus) -> None:
    openai_server.script(fail(503), Reply("ok then", usage=(7, 2)))
    metrics = Metrics()
    registry = build(one(openai_server.url), facts, metrics)
    await collect(registry.stream(None, ask()))
    await registry.close()
    labels = {"provider": "main", "model": "fake-model"}
    assert sample(metrics, "aman_llm_requests_total", **labels, result="ok") == 1
    assert sample(metrics, "aman_llm_requests_total", **labels, result="error") == 1
    assert sample(metrics, "aman_llm_tokens_total", provider="main", direction="input") == 7
    assert sample(metrics, "aman_llm_tokens_total", provider="main", direction="output") == 2
    assert sample(metrics, "aman_llm_request_duration_seconds_count", **labels) == 2
    assert sample(metrics, "aman_llm_time_to_first_token_seconds_count", **labels) == 1


async def test_stopping_mid_stream_is_cancelled_not_a_failure(openai_server: FakeOpenAIServer,
                                                              facts: FakeBus) -> None:
    openai_server.script(Reply(" ".join(["w"] * 100), token_delay=0.01))
    metrics = Metrics()
    registry = build(one(openai_server.url), facts, metrics)
    items = registry.stream(None, ask())
    async for item in items:
        if isinstance(item, Delta):
            break
    await items.aclose()
    await registry.close()
    assert facts.of(CALL_ENDED)[0]["result"] == "cancelled"
    assert registry.health("main").consecutive_failures == 0
    assert sample(metrics, "aman_llm_requests_total", provider="main", model="fake-model",
                  result="cancelled") == 1


async def test_probe_records_result_and_error(openai_server: FakeOpenAIServer,
                                              facts: FakeBus) -> None:
    registry = build(one(openai_server.url), facts)
    health = await registry.probe("main")
    assert health.last_probe_ok and health.last_probe_at_ms and health.last_error is None
    openai_server.models_reply = fail(500, error="models broke")
    health = await registry.probe()
    await registry.close()
    assert health.last_probe_ok is False
    assert "models broke" in health.to_json()["last_error"]["message"]


async def test_unknown_or_missing_default_provider_is_not_configured(facts: FakeBus) -> None:
    registry = build(LlmSettings(), facts)
    with pytest.raises(LLMNotConfiguredError, match="default_provider is empty"):
        await collect(registry.stream(None, ask()))
    with pytest.raises(LLMNotConfiguredError, match="'nope' is not configured"):
        await collect(registry.stream("nope", ask()))


async def test_providers_are_built_lazily_and_once(openai_server: FakeOpenAIServer,
                                                   facts: FakeBus) -> None:
    registry = build(one(openai_server.url), facts)
    assert registry.built("main") is None
    assert registry.provider("main") is registry.provider(None)
    assert registry.built("main") is not None
    await registry.close()
    assert registry.built("main") is None
