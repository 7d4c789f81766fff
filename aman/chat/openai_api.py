"""Mapping between OpenAI Chat Completions bodies and aman's provider requests (no HTTP here).

Clients that speak OpenAI (Open WebUI, LobeChat, the ``openai`` SDK, ...) see each enabled agent
as a model: ``"aman"`` or ``"aman:<agent_id>"`` names the agent. The agent's soul prompt is put
before the caller's messages, so the persona holds whichever client talks to it.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aman.ids import request_id
from aman.llm.provider import ChatMessage, CompletionRequest, Done, Usage

MODEL_PREFIX = "aman:"


class _ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    """One message as OpenAI clients send it (content as text or a list of text parts)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_ContentPart] | None = None

    def text(self) -> str:
        """The message's text (non-text parts are not supported and left out)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class StreamOptions(BaseModel):
    """``stream_options``."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The body of ``POST /v1/chat/completions`` (fields aman does not use are accepted)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    model: str = Field(min_length=1)
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    stop: str | list[str] | None = None
    user: str | None = None

    @field_validator("messages")
    @classmethod
    def _has_user_text(cls, value: list[OpenAIMessage]) -> list[OpenAIMessage]:
        if not any(m.role == "user" and m.text().strip() for m in value):
            raise ValueError("needs at least one user message with text")
        return value

    @property
    def include_usage(self) -> bool:
        """Whether the stream ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)

    def last_user_text(self) -> str:
        """The newest user message (what the session records as the user's turn)."""
        return next(m.text() for m in reversed(self.messages) if m.role == "user")


def agent_id_of(model: str) -> str:
    """``aman:<id>`` or ``<id>`` → the agent id."""
    return model[len(MODEL_PREFIX):] if model.startswith(MODEL_PREFIX) else model


def to_request(body: ChatCompletionRequest, *, system_prompt: str, max_output_tokens: int,
               temperature: float, model: str | None) -> CompletionRequest:
    """The provider request: the soul prompt first, then the caller's conversation."""
    messages = [ChatMessage("system", system_prompt)] if system_prompt else []
    for message in body.messages:
        role = "system" if message.role in ("system", "developer") else (
            "assistant" if message.role in ("assistant", "tool") else "user")
        messages.append(ChatMessage(role, message.text()))  # type: ignore[arg-type]
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    limit = body.max_completion_tokens or body.max_tokens
    return CompletionRequest(
        messages=tuple(messages), model=model,
        max_tokens=min(limit, max_output_tokens) if limit else max_output_tokens,
        temperature=body.temperature if body.temperature is not None else temperature,
        stop=stop)


def completion_id() -> str:
    """An id in OpenAI's style."""
    return f"chatcmpl-{request_id()}{request_id()}"


def _usage(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens}


def completion(cid: str, model: str, text: str, done: Done) -> dict[str, Any]:
    """A non-streaming answer."""
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": done.finish_reason, "logprobs": None}],
            "usage": _usage(done.usage)}


def chunk(cid: str, model: str, *, delta: dict[str, str], finish_reason: str | None = None,
          ) -> dict[str, Any]:
    """One streamed chunk."""
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta,
                                         "finish_reason": finish_reason, "logprobs": None}]}


def usage_chunk(cid: str, model: str, usage: Usage) -> dict[str, Any]:
    """The last chunk when ``stream_options.include_usage`` is set."""
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [], "usage": _usage(usage)}


def model_entry(agent_id: str, created: int) -> dict[str, Any]:
    """One ``/v1/models`` entry."""
    return {"id": agent_id, "object": "model", "created": created, "owned_by": "aman"}


def error_type(status: int) -> str:
    """OpenAI's error ``type`` for an HTTP status."""
    return {400: "invalid_request_error", 401: "authentication_error",
            403: "permission_error", 404: "not_found_error", 409: "invalid_request_error",
            413: "invalid_request_error", 429: "rate_limit_error"}.get(
                status, "server_error" if status >= 500 else "invalid_request_error")
