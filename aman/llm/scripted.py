"""The ``scripted`` provider: replies from the config, streamed word by word with set delays.

For tests, demos and benchmarks that need a provider with known timing and no network or model:
each call takes the next reply of ``replies`` (cycling; ``{input}`` becomes the last user message,
``{now}`` the time the word is yielded, for benchmarks), waits ``first_token_ms``, then yields
one word every ``token_ms``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator

from aman.agent_settings import ProviderSettings
from aman.llm.provider import CompletionRequest, Delta, Done, StreamItem, Usage

_WORDS = re.compile(r"\S+\s*|\s+")
DEFAULT_REPLY = "You said: {input}"


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters per token) for backends that report none."""
    return max(1, len(text) // 4) if text else 0


class ScriptedProvider:
    """Deterministic replies with configurable timing."""

    kind = "scripted"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.model = settings.model or "scripted"
        self._replies = itertools.cycle(settings.replies or [DEFAULT_REPLY])
        self._first_token_sec = settings.first_token_ms / 1000
        self._token_sec = settings.token_ms / 1000

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamItem]:
        """Yield the next scripted reply word by word, then ``Done``."""
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        reply = next(self._replies).replace("{input}", last_user)
        words = _WORDS.findall(reply)
        limit = request.max_tokens if request.max_tokens is not None else len(words)
        if self._first_token_sec:
            await asyncio.sleep(self._first_token_sec)
        for index, word in enumerate(words[:limit]):
            if index and self._token_sec:
                await asyncio.sleep(self._token_sec)
            # "{now}" becomes the wall-clock time the word is handed over (benchmarks measure
            # what happens between here and a client).
            yield Delta(word.replace("{now}", f"{time.time():.6f}") if "{now}" in word else word)
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        yield Done("length" if limit < len(words) else "stop",
                   Usage(prompt, min(limit, len(words))), request.model or self.model)

    async def probe(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        """Nothing to release."""


def create(name: str, settings: ProviderSettings) -> ScriptedProvider:
    """The adapter factory (every ``aman.llm.<kind>`` module has one)."""
    return ScriptedProvider(name, settings)
