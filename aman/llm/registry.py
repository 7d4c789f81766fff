"""ProviderRegistry: the configured providers by name, built on first use.

Each kind's adapter lives in ``aman.llm.<kind>`` with a ``create(name, settings)`` factory and is
imported only when a provider of that kind is first used, so a daemon that never talks to
Anthropic never loads its SDK.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import AsyncIterator, Callable

from aman.agent_settings import LlmSettings
from aman.llm.provider import CompletionRequest, LLMNotConfiguredError, LLMProvider, StreamItem

log = logging.getLogger(__name__)

#: What to install for each kind whose adapter needs an optional dependency.
INSTALL_HINTS = {
    "openai": "pip install openai",
    "anthropic": "pip install anthropic",
    "local": "pip install 'aman[local]' (llama-cpp-python and the SmolLM2 model)",
}


class ProviderRegistry:
    """Builds providers from ``llm.providers`` lazily and streams through them."""

    def __init__(self, settings: Callable[[], LlmSettings]) -> None:
        self._settings = settings
        self._built: dict[str, LLMProvider] = {}

    def resolve(self, name: str | None) -> str:
        """The provider name to use: ``name``, else ``llm.default_provider``."""
        llm = self._settings()
        chosen = name or llm.default_provider
        if not chosen:
            raise LLMNotConfiguredError(
                "no LLM provider is configured (llm.default_provider is empty)")
        if chosen not in llm.providers:
            raise LLMNotConfiguredError(
                f"LLM provider {chosen!r} is not configured; llm.providers has "
                f"{', '.join(sorted(llm.providers)) or 'none'}", provider=chosen)
        return chosen

    def provider(self, name: str | None = None) -> LLMProvider:
        """The provider object, built on first use."""
        chosen = self.resolve(name)
        found = self._built.get(chosen)
        if found is None:
            config = self._settings().providers[chosen]
            try:
                module = importlib.import_module(f"aman.llm.{config.kind}")
                found = module.create(chosen, config)
            except ImportError as exc:
                raise LLMNotConfiguredError(
                    f"LLM provider {chosen!r} (kind {config.kind}) cannot load: {exc}",
                    provider=chosen,
                    hint=f"Install its backend: {INSTALL_HINTS.get(config.kind, 'see docs')}.",
                ) from exc
            self._built[chosen] = found
        return found

    async def stream(self, name: str | None, request: CompletionRequest,
                     ) -> AsyncIterator[StreamItem]:
        """Stream a reply from provider ``name`` (None: the default)."""
        provider = self.provider(name)
        async for item in provider.stream(request):
            yield item

    async def close(self) -> None:
        """Close every built provider."""
        built, self._built = self._built, {}
        for name, provider in built.items():
            try:
                await provider.close()
            except Exception:
                log.exception("closing LLM provider %s failed", name)
