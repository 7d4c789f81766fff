"""The one small interface every LLM backend sits behind, and the provider error tree.

A provider streams a reply as ``Delta`` items followed by exactly one ``Done`` (finish reason and
token usage). When the request offers tools the model may instead ask for calls: ``ToolCall``
items before ``Done(finish_reason="tool_calls")``; the caller runs them and sends the results back
as ``tool`` messages after an assistant message carrying the calls. Cancelling the consuming task
(or closing the iterator) stops the generation: the remote adapters close the HTTP stream, the
local one sets a flag its worker thread checks between tokens. SDK exceptions are translated into
this tree inside the adapters and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from aman.errors import UnavailableError

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: its name, what it does and its parameters' JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """The model asks for one tool call (``id`` pairs it with its result)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation as the model sees it.

    An ``assistant`` message may carry the ``tool_calls`` it made; a ``tool`` message is the
    result of the call ``tool_call_id`` (``name``: the tool).
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class CompletionRequest:
    """What to generate from."""

    messages: tuple[ChatMessage, ...]
    model: str | None = None  # None: the provider's configured model
    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    #: Tools the model may call (empty: a plain completion).
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True)
class Usage:
    """Token counts of one call (estimated when the backend does not report them)."""

    input_tokens: int = 0
    output_tokens: int = 0
    #: Input tokens the provider served from its prompt cache (part of input_tokens).
    cached_tokens: int = 0


@dataclass(frozen=True)
class Delta:
    """A piece of the reply text."""

    text: str


@dataclass(frozen=True)
class Done:
    """The end of a reply: why it ended and what it cost."""

    finish_reason: str = "stop"  # stop | length | tool_calls | cancelled | error
    usage: Usage = field(default_factory=Usage)
    model: str | None = None


StreamItem = Delta | ToolCall | Done


class LLMProvider(Protocol):
    """A configured backend."""

    name: str
    kind: str
    model: str

    def stream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        """Generate; yields deltas (and tool calls) then one ``Done``; raises ``LLMError``s."""
        ...

    async def probe(self) -> None:
        """Check the backend answers (cheaply); raise ``LLMError`` when it does not."""
        ...

    async def close(self) -> None:
        """Release clients, threads and loaded models."""
        ...


# --- errors ------------------------------------------------------------------------------------


class LLMError(UnavailableError):
    """A provider could not produce a reply."""

    code = "llm_error"
    hint = "GET /health/llm shows the provider's state and last error."
    #: Whether trying again (after a backoff) may succeed.
    retryable = False

    def __init__(self, message: str, *, provider: str | None = None,
                 retry_after_sec: float | None = None, hint: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, hint=hint, code=code,
                         details={"provider": provider} if provider else None)
        self.provider = provider
        self.retry_after_sec = retry_after_sec


class LLMNotConfiguredError(LLMError):
    """No provider is configured for the agent, or its backend is not installed."""

    code = "llm_not_configured"
    hint = ("Configure a provider under llm.providers and set llm.default_provider "
            "(docs/llm.md), or install the offline model with pip install 'aman[local]'.")


class LLMConnectionError(LLMError):
    """The backend could not be reached, or dropped the connection."""

    code = "llm_unavailable"
    retryable = True


class LLMRateLimitedError(LLMError):
    """The backend answered 429."""

    code = "llm_rate_limited"
    retryable = True


class LLMServerError(LLMError):
    """The backend answered 5xx."""

    code = "llm_server_error"
    retryable = True


class LLMRequestError(LLMError):
    """The backend refused the request itself (4xx other than 429): retrying will not help."""

    code = "llm_request_rejected"

