"""The ``openai`` provider: any server speaking OpenAI Chat Completions, through the official SDK.

OpenAI itself, Ollama, llama.cpp's server, vLLM, LM Studio and OpenRouter all speak this protocol
(issue #7). The SDK parses the SSE stream; this module only maps its chunks onto ``Delta``/``Done``
and its exceptions onto the provider error tree.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai

from aman.agent_settings import ProviderSettings
from aman.llm import remote
from aman.llm.provider import CompletionRequest, Delta, Done, StreamItem, Usage


class OpenAIProvider:
    """Streams chat completions from ``base_url`` (default: api.openai.com)."""

    kind = "openai"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.model = settings.model
        self._client = openai.AsyncOpenAI(**remote.client_options(name, settings, "OPENAI_API_KEY"))

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamItem]:
        """Yield the reply's deltas, then ``Done`` with the usage the server reported."""
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = list(request.stop)
        finish, usage, model = "stop", Usage(), params["model"]
        with remote.translating(openai, self.name):
            chunks = await self._client.chat.completions.create(**params)
            try:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens or 0,
                                      chunk.usage.completion_tokens or 0)
                    for choice in chunk.choices[:1]:
                        if choice.delta.content:
                            yield Delta(choice.delta.content)
                        if choice.finish_reason:
                            finish = choice.finish_reason
            finally:
                await chunks.close()  # on stop too: closes the HTTP stream at once
        yield Done(finish, usage, model)

    async def probe(self) -> None:
        """``GET /models``: proves the server answers and accepts the key, costs no tokens.

        A one-token completion would also prove the model exists, but on a CPU-bound self-hosted
        server it competes with real chats (and may load a model) every probe interval.
        """
        with remote.translating(openai, self.name):
            await self._client.models.list()

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


def create(name: str, settings: ProviderSettings) -> OpenAIProvider:
    """The adapter factory."""
    return OpenAIProvider(name, settings)
