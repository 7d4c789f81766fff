"""The ``openai`` provider: any server speaking OpenAI Chat Completions, through the official SDK.

OpenAI itself, Ollama, llama.cpp's server, vLLM, LM Studio and OpenRouter all speak this protocol
The SDK parses the SSE stream; this module only maps its chunks onto ``Delta``/``Done``
and its exceptions onto the provider error tree.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import openai

from aman.config.agents import ProviderSettings
from aman.llm import remote
from aman.llm.provider import (
    ChatMessage,
    CompletionRequest,
    Delta,
    Done,
    StreamItem,
    ToolCall,
    Usage,
)


class OpenAIProvider:
    """Streams chat completions from ``base_url`` (default: api.openai.com)."""

    kind = "openai"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.model = settings.model
        self._client = openai.AsyncOpenAI(**remote.client_options(name, settings, "OPENAI_API_KEY"))

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield the reply's deltas, then ``Done`` with the usage the server reported."""
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [_message(m) for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            params["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = list(request.stop)
        if request.tools:
            params["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools]
        calls: dict[int, dict[str, str]] = {}  # tool-call fragments by index
        finish, usage, model = "stop", Usage(), params["model"]
        with remote.translating(openai, self.name):
            chunks = await self._client.chat.completions.create(**params)
            try:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        details = getattr(chunk.usage, "prompt_tokens_details", None)
                        usage = Usage(chunk.usage.prompt_tokens or 0,
                                      chunk.usage.completion_tokens or 0,
                                      getattr(details, "cached_tokens", None) or 0)
                    for choice in chunk.choices[:1]:
                        if choice.delta.content:
                            yield Delta(choice.delta.content)
                        for part in getattr(choice.delta, "tool_calls", None) or ():
                            call = calls.setdefault(part.index, {"id": "", "name": "", "args": ""})
                            call["id"] = part.id or call["id"]
                            if part.function is not None:
                                call["name"] += part.function.name or ""
                                call["args"] += part.function.arguments or ""
                        if choice.finish_reason:
                            finish = choice.finish_reason
            finally:
                await chunks.close()  # on stop too: closes the HTTP stream at once
        for index in sorted(calls):
            call = calls[index]
            yield ToolCall(call["id"] or f"call_{index}", call["name"],
                           remote.tool_arguments(call["args"]))
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


def _message(message: ChatMessage) -> dict[str, Any]:
    """A conversation message in Chat Completions form (tool calls and results included)."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [{"id": c.id, "type": "function", "function": {
            "name": c.name, "arguments": json.dumps(c.arguments)}} for c in message.tool_calls]
    return wire


def create(name: str, settings: ProviderSettings) -> OpenAIProvider:
    """The adapter factory."""
    return OpenAIProvider(name, settings)
