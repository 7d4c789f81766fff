"""What the two HTTP adapters share: SDK exception translation and ``Retry-After`` parsing.

The ``openai`` and ``anthropic`` SDKs are generated from the same template, so their exception
classes have the same names and meaning; ``translate`` takes the SDK module and maps its classes
onto the provider error tree. Retrying is the registry's job, which is why both
clients are built with ``max_retries=0``.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from types import ModuleType, TracebackType
from typing import Any, Literal

from aman.config.agents import ProviderSettings
from aman.llm.provider import (
    LLMConnectionError,
    LLMError,
    LLMNotConfiguredError,
    LLMRateLimitedError,
    LLMRequestError,
    LLMServerError,
)

#: Sent when a self-hosted server (Ollama, llama.cpp, vLLM) needs no key: the SDKs insist on one.
PLACEHOLDER_KEY = "unused"
#: Longest reason text copied from an error body into our message.
_MAX_DETAIL = 300


def client_options(name: str, settings: ProviderSettings, env_hint: str) -> dict[str, Any]:
    """Keyword arguments for the SDK client; raise ``LLMNotConfiguredError`` if model or key lack.

    ``max_retries=0``: the registry retries (honouring Retry-After) and falls back.
    """
    if not settings.model:
        raise LLMNotConfiguredError(f"LLM provider {name!r} ({settings.kind}) has no model",
                                    provider=name, hint=f"Set llm.providers.{name}.model.")
    options: dict[str, Any] = {
        "api_key": api_key(name, settings, env_hint), "timeout": settings.timeout_sec,
        "max_retries": 0, "default_headers": settings.headers or None}
    if settings.base_url:
        options["base_url"] = settings.base_url
    return options


def api_key(name: str, settings: ProviderSettings, env_hint: str) -> str:
    """The key to send; a missing key for the vendor's own API is a configuration error."""
    key = settings.api_key.get_secret_value()
    if key:
        return key
    if settings.base_url is None:
        raise LLMNotConfiguredError(
            f"LLM provider {name!r} ({settings.kind}) has no api_key",
            provider=name,
            hint=(f"Set llm.providers.{name}.api_key (e.g. \"${{{env_hint}}}\"), or set "
                  "base_url to a server that needs no key."),
        )
    return PLACEHOLDER_KEY


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _reason(exc: Exception) -> str:
    body: Any = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:_MAX_DETAIL]
    return (str(exc) or type(exc).__name__)[:_MAX_DETAIL]


def _is_transport_error(exc: BaseException) -> bool:
    # A connection dropped mid-stream surfaces from the SDK's HTTP library untranslated; openai
    # 3.x uses httpx2, anthropic httpx, so match the class by name rather than import both.
    return any(k.__name__ == "TransportError" and k.__module__.startswith("httpx")
               for k in type(exc).__mro__)


def translate(exc: Exception, sdk: ModuleType, provider: str) -> LLMError | None:
    """The provider error for an SDK or transport exception; None when it is not one of those."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, sdk.APIConnectionError) or _is_transport_error(exc):  # timeouts too
        return LLMConnectionError(
            f"LLM provider {provider!r} could not be reached: {_reason(exc)}", provider=provider,
            hint="Check the provider's base_url and that its server is running.")
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        reason = f"LLM provider {provider!r} answered {status}: {_reason(exc)}"
        retry_after = parse_retry_after(exc.response.headers)
        if status == 429:
            return LLMRateLimitedError(reason, provider=provider, retry_after_sec=retry_after,
                                       hint="Wait, lower the request rate or add a fallback.")
        if status >= 500:
            return LLMServerError(reason, provider=provider, retry_after_sec=retry_after,
                                  hint="The provider is failing; retry later or add a fallback.")
        if status in (401, 403):
            return LLMRequestError(reason, provider=provider,
                                   hint=f"Check llm.providers.{provider}.api_key.")
        return LLMRequestError(reason, provider=provider,
                               hint=f"Check llm.providers.{provider}.model and the request.")
    if isinstance(exc, sdk.APIError):  # e.g. an error event inside the stream
        return LLMServerError(f"LLM provider {provider!r} failed: {_reason(exc)}",
                              provider=provider)
    return None


class translating:  # noqa: N801 - used as a statement: ``with translating(sdk, name):``
    """Re-raise SDK and transport exceptions raised inside the block as provider errors."""

    def __init__(self, sdk: ModuleType, provider: str) -> None:
        self._sdk = sdk
        self._provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Literal[False]:
        if not isinstance(exc, Exception) or isinstance(exc, LLMError):
            return False  # GeneratorExit and cancellation pass through untouched
        translated = translate(exc, self._sdk, self._provider)
        if translated is None:
            return False
        raise translated from exc


def tool_arguments(raw: str) -> dict[str, Any]:
    """A tool call's streamed JSON arguments; what is not an object reaches the tool as invalid."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"_invalid_json": raw}
    return value if isinstance(value, dict) else {"_invalid_json": raw}
