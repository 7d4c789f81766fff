"""The ``scripted`` provider: replies from the config, streamed word by word with set delays.

For tests, demos and benchmarks that need a provider with known timing and no network or model:
each call takes the next reply of ``replies`` (cycling; ``{input}`` becomes the last user message,
``{system}`` the system prompt, ``{now}`` the time the word is yielded, for benchmarks),
waits ``first_token_ms``, then yields one word every ``token_ms``.

Tool calls: a reply that is a JSON object ``{"tool_calls": [{"name": "read", "arguments": {...}}]}``
yields one ``ToolCall`` per entry (ids ``call_1``, ``call_2``, ...) and ``Done("tool_calls")``
when the request offers tools; the next reply of the list then answers after the results. In a
text reply ``{tool_result}`` becomes the newest ``tool`` message's content, so a test can see what
was fed back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import AsyncGenerator
from typing import Any

from aman.config.agents import ProviderSettings
from aman.llm.provider import CompletionRequest, Delta, Done, StreamItem, ToolCall, Usage

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
        self._calls = 0

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield the next scripted reply word by word, then ``Done``."""
        last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        system = next((m.content for m in request.messages if m.role == "system"), "")
        reply = next(self._replies).replace("{input}", last_user).replace("{system}", system)
        calls = _tool_calls(reply) if request.tools else None
        prompt = sum(estimate_tokens(m.content) for m in request.messages)
        if calls is not None:
            if self._first_token_sec:
                await asyncio.sleep(self._first_token_sec)
            self._calls += len(calls)
            for index, call in enumerate(calls, start=self._calls - len(calls) + 1):
                yield ToolCall(str(call.get("id") or f"call_{index}"), str(call["name"]),
                               dict(call.get("arguments") or {}))
            yield Done("tool_calls", Usage(prompt, estimate_tokens(reply)),
                       request.model or self.model)
            return
        if "{tool_result}" in reply:
            result = next((m.content for m in reversed(request.messages) if m.role == "tool"), "")
            reply = reply.replace("{tool_result}", result)
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
        yield Done("length" if limit < len(words) else "stop",
                   Usage(prompt, min(limit, len(words))), request.model or self.model)

    async def probe(self) -> None:
        """Always answers."""

    async def close(self) -> None:
        """Nothing to release."""


def _tool_calls(reply: str) -> list[dict[str, Any]] | None:
    """The calls a reply scripts (``{"tool_calls": [...]}``), or None for a text reply."""
    if not reply.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(reply)
    except ValueError:
        return None
    calls = value.get("tool_calls") if isinstance(value, dict) else None
    if not isinstance(calls, list) or not all(isinstance(c, dict) and "name" in c for c in calls):
        return None
    return calls


def create(name: str, settings: ProviderSettings) -> ScriptedProvider:
    """The adapter factory (every ``aman.llm.<kind>`` module has one)."""
    return ScriptedProvider(name, settings)
