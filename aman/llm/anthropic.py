"""The ``anthropic`` provider: the Messages API streamed through the official SDK.

System messages become the ``system`` parameter (the Messages API has no system role); the raw
stream events carry the text deltas, the stop reason and the token usage. Offered tools
go as ``tools``; ``tool_use`` content blocks (their input streamed as partial JSON) become
``ToolCall`` items, and the history's tool calls and results are sent back as ``tool_use`` and
``tool_result`` content blocks.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anthropic

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

#: The Messages API requires max_tokens; used when the caller sets none.
DEFAULT_MAX_TOKENS = 1024
#: Anthropic stop reasons in the interface's vocabulary.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
           "tool_use": "tool_calls", "refusal": "content_filter"}


class AnthropicProvider:
    """Streams Messages API replies from ``base_url`` (default: api.anthropic.com)."""

    kind = "anthropic"

    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.model = settings.model
        options = remote.client_options(name, settings, "ANTHROPIC_API_KEY")
        self._client = anthropic.AsyncAnthropic(**options)

    async def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        """Yield the reply's deltas, then ``Done`` with the stop reason and usage."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _messages([m for m in request.messages if m.role != "system"]),
            "stream": True,
        }
        if system:
            params["system"] = system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        if request.tools:
            params["tools"] = [{"name": t.name, "description": t.description,
                                "input_schema": t.parameters} for t in request.tools]
        calls: dict[int, dict[str, str]] = {}  # open tool_use blocks by content index
        finish, input_tokens, output_tokens, model = "stop", 0, 0, params["model"]
        cached_tokens = 0
        with remote.translating(anthropic, self.name):
            events = await self._client.messages.create(**params)
            try:
                async for event in events:
                    if event.type == "message_start":
                        model = event.message.model or model
                        start_usage = event.message.usage
                        cached_tokens = getattr(start_usage, "cache_read_input_tokens", None) or 0
                        # Anthropic counts cache reads apart from input_tokens; ours include them.
                        input_tokens = (start_usage.input_tokens or 0) + cached_tokens
                        output_tokens = start_usage.output_tokens or 0
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            calls[event.index] = {"id": block.id, "name": block.name, "args": ""}
                    elif event.type == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield Delta(event.delta.text)
                        elif event.delta.type == "input_json_delta" and event.index in calls:
                            calls[event.index]["args"] += event.delta.partial_json or ""
                    elif event.type == "content_block_stop" and event.index in calls:
                        call = calls.pop(event.index)
                        yield ToolCall(call["id"] or f"call_{event.index}", call["name"],
                                       remote.tool_arguments(call["args"]))
                    elif event.type == "message_delta":
                        if event.delta.stop_reason:
                            finish = _FINISH.get(event.delta.stop_reason, event.delta.stop_reason)
                        output_tokens = event.usage.output_tokens or output_tokens
            finally:
                await events.close()  # on stop too: closes the HTTP stream at once
        yield Done(finish, Usage(input_tokens, output_tokens, cached_tokens), model)

    async def probe(self) -> None:
        """``GET /v1/models``: proves the API answers and accepts the key, costs no tokens."""
        with remote.translating(anthropic, self.name):
            await self._client.models.list(limit=1)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


def _messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation in Messages API form.

    An assistant message's tool calls become ``tool_use`` blocks after its text; consecutive
    ``tool`` messages become one user message of ``tool_result`` blocks.
    """
    wire: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            result = {"type": "tool_result", "tool_use_id": message.tool_call_id,
                      "content": message.content}
            previous = wire[-1] if wire else None
            if (previous is not None and previous["role"] == "user"
                    and isinstance(previous["content"], list)
                    and all(b.get("type") == "tool_result" for b in previous["content"])):
                previous["content"].append(result)
            else:
                wire.append({"role": "user", "content": [result]})
        elif message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks.extend({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                          for c in message.tool_calls)
            wire.append({"role": "assistant", "content": blocks})
        else:
            wire.append({"role": message.role, "content": message.content})
    return wire


def create(name: str, settings: ProviderSettings) -> AnthropicProvider:
    """The adapter factory."""
    return AnthropicProvider(name, settings)
