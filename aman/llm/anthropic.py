"""The ``anthropic`` provider: the Messages API streamed through the official SDK.

System messages become the ``system`` parameter (the Messages API has no system role); the raw
stream events carry the text deltas, the stop reason and the token usage (issue #7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic

from aman.agent_settings import ProviderSettings
from aman.llm import remote
from aman.llm.provider import CompletionRequest, Delta, Done, StreamItem, Usage

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

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamItem]:
        """Yield the reply's deltas, then ``Done`` with the stop reason and usage."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        params: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            # Tool results from another provider's turns read as user text (no tool use here yet).
            "messages": [{"role": "user" if m.role == "tool" else m.role,
                          "content": m.content if m.role != "tool"
                          else f"[result of tool {m.name}] {m.content}"}
                         for m in request.messages if m.role != "system"],
            "stream": True,
        }
        if system:
            params["system"] = system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        finish, input_tokens, output_tokens, model = "stop", 0, 0, params["model"]
        with remote.translating(anthropic, self.name):
            events = await self._client.messages.create(**params)
            try:
                async for event in events:
                    if event.type == "message_start":
                        model = event.message.model or model
                        input_tokens = event.message.usage.input_tokens or 0
                        output_tokens = event.message.usage.output_tokens or 0
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        if event.delta.text:
                            yield Delta(event.delta.text)
                    elif event.type == "message_delta":
                        if event.delta.stop_reason:
                            finish = _FINISH.get(event.delta.stop_reason, event.delta.stop_reason)
                        output_tokens = event.usage.output_tokens or output_tokens
            finally:
                await events.close()  # on stop too: closes the HTTP stream at once
        yield Done(finish, Usage(input_tokens, output_tokens), model)

    async def probe(self) -> None:
        """``GET /v1/models``: proves the API answers and accepts the key, costs no tokens."""
        with remote.translating(anthropic, self.name):
            await self._client.models.list(limit=1)

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()


def create(name: str, settings: ProviderSettings) -> AnthropicProvider:
    """The adapter factory."""
    return AnthropicProvider(name, settings)
