"""ProviderRegistry: the configured providers by name, built on first use, with the failure policy.

Each kind's adapter lives in ``aman.llm.<kind>`` with a ``create(name, settings)`` factory and is
imported only when a provider of that kind is first used, so a daemon that never talks to
Anthropic never loads its SDK.

Around every call the registry applies the failure handling: retries with backoff on
retryable errors (honouring ``Retry-After``) but only before the first delta, since text already
shown cannot be taken back; then the provider's ``fallbacks`` in order, each switch announced as
``llm:fallback``; three consecutive failures of a provider emit ``llm.backend_down`` and its next
success ``llm.backend_recovered``. Every call is bracketed by ``llm:call_started`` /
``llm:call_ended`` facts and counted in the ``aman_llm_*`` metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aman.clock import Clock, SystemClock
from aman.config.agents import LlmSettings, ProviderSettings
from aman.events.ports import FactEmitter
from aman.events.types import EventTable
from aman.llm.health import ProviderHealth
from aman.llm.provider import (
    CompletionRequest,
    Delta,
    Done,
    LLMError,
    LLMNotConfiguredError,
    LLMProvider,
    StreamItem,
    ToolCall,
)
from aman.llm.scripted import estimate_tokens

if TYPE_CHECKING:
    from aman.metrics import Metrics

@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """One finished model call as usage accounting sees it (``context`` is the caller's)."""

    provider: str
    model: str
    result: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    duration_ms: float
    context: dict[str, object]


log = logging.getLogger(__name__)

#: What to install for each kind whose adapter needs an optional dependency.
INSTALL_HINTS = {
    "openai": "pip install openai",
    "anthropic": "pip install anthropic",
    "local": "pip install 'aman[local]' (llama-cpp-python and the SmolLM2 model)",
}
SOURCE = "system:llm"
CALL_STARTED = "llm:call_started"
CALL_ENDED = "llm:call_ended"
FALLBACK = "llm:fallback"
BACKEND_DOWN = "llm.backend_down"
BACKEND_RECOVERED = "llm.backend_recovered"
#: Every fact this module emits (declared on /event-types by the boot step).
#: Every type this module emits, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (CALL_STARTED, "A call to an LLM provider began; payload has the estimated input tokens."),
    (CALL_ENDED, "A call to an LLM provider ended; payload has usage, latency and outcome."),
    (FALLBACK, "A provider failed and the call moved to the next one in its fallbacks."),
    (BACKEND_DOWN, "An LLM provider stopped answering (failed calls or probes)."),
    (BACKEND_RECOVERED, "An LLM provider that was down answers again."),
)
#: Backoff before retry n (0-based) is BASE * 2**n, capped; a Retry-After replaces it.
_BACKOFF_BASE_SEC = 0.5
_BACKOFF_MAX_SEC = 8.0
#: A Retry-After longer than this is not waited out inside a chat turn: fall back instead.
_MAX_RETRY_AFTER_SEC = 60.0
#: Probes that hang are failures after this long (at most the provider's own timeout).
_PROBE_TIMEOUT_SEC = 30.0
#: The name a plugin's provider answers to when no default provider is configured.
PLUGIN_PROVIDER = "plugin"


class _NoFacts:
    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = "") -> None:
        return None


class ProviderRegistry:
    """Builds providers from ``llm.providers`` lazily and streams through them."""

    def __init__(self, settings: Callable[[], LlmSettings], *, bus: FactEmitter | None = None,
                 metrics: Metrics | None = None, clock: Clock | None = None,
                 probe_target: Callable[[], str | None] | None = None) -> None:
        self._settings = settings
        self._built: dict[str, LLMProvider] = {}
        self._bus: FactEmitter = bus or _NoFacts()
        self._metrics = metrics
        self._clock: Clock = clock or SystemClock()
        #: Which provider the background probe watches (the default agent's).
        self.probe_target = probe_target or (lambda: self._settings().default_provider or None)
        self._health: dict[str, ProviderHealth] = {}
        #: A plugin's provider (``llm_provider`` hook) serving in place of the default one.
        self._override: tuple[str, LLMProvider] | None = None
        #: Told about every finished call (usage accounting); wired by the composition root.
        self.on_call: Callable[[CallRecord], object] | None = None

    def use_plugin_provider(self, provider: LLMProvider) -> str:
        """Serve ``provider`` in place of ``llm.default_provider`` (under the name ``plugin``
        when none is configured); return the name it answers to."""
        missing = [attr for attr in ("stream", "probe", "close") if not callable(
            getattr(provider, attr, None))] + [attr for attr in ("kind", "model") if not isinstance(
                getattr(provider, attr, None), str)]
        if missing:
            raise LLMNotConfiguredError(
                f"the llm_provider hook returned {type(provider).__name__}, which lacks "
                f"{', '.join(missing)}", hint="Return an object with the LLMProvider protocol "
                "(aman.llm.provider): kind, model, stream(), probe(), close().")
        name = self._settings().default_provider or PLUGIN_PROVIDER
        self._override = (name, provider)
        return name

    def _config(self, name: str) -> ProviderSettings | None:
        """``llm.providers[name]``; None for a plugin's provider without a configured entry."""
        return self._settings().providers.get(name)

    def resolve(self, name: str | None) -> str:
        """The provider name to use: ``name``, else ``llm.default_provider``."""
        llm = self._settings()
        chosen = name or llm.default_provider
        if self._override is not None and chosen in ("", self._override[0]):
            return self._override[0]
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
        if self._override is not None and chosen == self._override[0]:
            return self._override[1]
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

    def built(self, name: str) -> LLMProvider | None:
        """The provider object if it was built already (never builds: no SDK import)."""
        return self._built.get(name)

    def health(self, name: str) -> ProviderHealth:
        """What is known about provider ``name`` (a fresh record if nothing yet)."""
        return self._health.setdefault(name, ProviderHealth(name))

    # --- streaming -------------------------------------------------------------------------

    async def stream(self, name: str | None, request: CompletionRequest, *,
                     context: dict[str, object] | None = None) -> AsyncGenerator[StreamItem, None]:
        """Stream a reply from provider ``name`` (None: the default), falling back in order.

        ``context`` (session, agent, message ids) is added to the call's ``llm:*`` facts. Raises
        the first provider's ``LLMError`` when every provider failed (the others are listed in
        its ``details["fallbacks"]``), or the failing provider's error once text has streamed.
        """
        primary = self.resolve(name)
        config = self._config(primary)
        chain = [primary] + [f for f in (config.fallbacks if config else []) if f != primary]
        extra = dict(context or {})
        first_error: LLMError | None = None
        tried: list[dict[str, Any]] = []
        for index, current in enumerate(chain):
            if index:
                self._bus.emit(FALLBACK, {
                    "from": chain[index - 1], "to": current, "primary": primary,
                    "error": tried[-1]["message"], "code": tried[-1]["code"], **extra,
                }, source=SOURCE)
            streamed = False
            try:
                async with contextlib.aclosing(self._call(current, request, extra)) as items:
                    async for item in items:
                        streamed = streamed or isinstance(item, Delta | ToolCall)
                        yield item
                return
            except LLMError as exc:
                if streamed:
                    raise  # part of the reply is out: no retry, no fallback
                tried.append({"provider": current, "code": exc.code, "message": exc.message})
                first_error = first_error or exc
        assert first_error is not None
        if len(tried) > 1:
            first_error.details["fallbacks"] = tried[1:]
        raise first_error

    async def _call(self, name: str, request: CompletionRequest,
                    context: dict[str, object]) -> AsyncGenerator[StreamItem, None]:
        """One provider, with retries before the first delta; facts, metrics and health."""
        try:
            provider = self.provider(name)
        except LLMError as exc:
            self._failed(name, exc)
            raise
        config = self._config(name)
        retries = config.max_retries if config else 0
        model = request.model or provider.model
        base = {"provider": name, "kind": provider.kind, "model": model, **context}
        input_estimate = sum(estimate_tokens(m.content) for m in request.messages)
        self._bus.emit(CALL_STARTED, {**base, "input_tokens_estimate": input_estimate},
                       source=SOURCE)
        loop = asyncio.get_running_loop()
        started = loop.time()
        attempt, first_at, output_chars, cached = 0, None, 0, 0
        outcome: dict[str, Any] = {"result": "cancelled"}
        try:
            while True:
                attempt_started = loop.time()
                try:
                    async with contextlib.aclosing(provider.stream(request)) as items:
                        async for item in items:
                            if isinstance(item, Delta):
                                if first_at is None:
                                    first_at = loop.time()
                                    self._observe_ttft(name, model, first_at - attempt_started)
                                output_chars += len(item.text)
                                yield item
                            elif isinstance(item, Done):
                                cached = item.usage.cached_tokens
                                outcome = self._succeeded(name, item, model, attempt_started)
                                # Backends that report no usage: about four characters a token.
                                outcome.setdefault("output_tokens", -(-output_chars // 4))
                                yield item
                                return
                            else:  # a ToolCall
                                yield item
                    raise LLMError(f"LLM provider {name!r} ended its stream without a result",
                                   provider=name)
                except LLMError as exc:
                    self._count(name, model, "error", loop.time() - attempt_started)
                    delay = self._retry_delay(exc, attempt, retries)
                    if first_at is not None or delay is None:
                        outcome = {"result": "error", "code": exc.code, "error": exc.message}
                        self._failed(name, exc)
                        raise
                    log.info("LLM provider %s failed (%s); retry %d in %.2fs", name, exc.code,
                             attempt + 1, delay)
                    await self._clock.sleep(delay)
                    attempt += 1
        finally:
            if outcome["result"] == "cancelled":
                self._count(name, model, "cancelled", loop.time() - started)
            ended = {
                **base, "input_tokens": input_estimate, "output_tokens": 0, **outcome,
                "attempts": attempt + 1,
                "latency_ms": round((loop.time() - started) * 1000, 3),
                "time_to_first_token_ms": None if first_at is None
                else round((first_at - started) * 1000, 3),
            }
            self._bus.emit(CALL_ENDED, ended, source=SOURCE)
            if self.on_call is not None:
                self.on_call(CallRecord(
                    provider=name, model=str(ended.get("model") or model),
                    result=str(ended["result"]), input_tokens=int(ended["input_tokens"]),
                    output_tokens=int(ended["output_tokens"]), cached_tokens=cached,
                    duration_ms=float(ended["latency_ms"]), context=dict(context)))

    @staticmethod
    def _retry_delay(exc: LLMError, attempt: int, retries: int) -> float | None:
        """Seconds to wait before retrying, or None when this error is final."""
        if not exc.retryable or attempt >= retries:
            return None
        if exc.retry_after_sec is not None:
            return exc.retry_after_sec if exc.retry_after_sec <= _MAX_RETRY_AFTER_SEC else None
        return min(_BACKOFF_MAX_SEC, _BACKOFF_BASE_SEC * 2.0**attempt)

    # --- bookkeeping -----------------------------------------------------------------------

    def _succeeded(self, name: str, done: Done, model: str, started: float) -> dict[str, Any]:
        elapsed = asyncio.get_running_loop().time() - started
        self._count(name, done.model or model, "ok", elapsed)
        if self._metrics is not None:
            self._metrics.llm_tokens.labels(name, "input").inc(done.usage.input_tokens)
            self._metrics.llm_tokens.labels(name, "output").inc(done.usage.output_tokens)
        if self.health(name).succeeded(self._clock.now_ms()):
            log.info("LLM provider %s recovered", name)
            self._bus.emit(BACKEND_RECOVERED, {"provider": name}, source=SOURCE)
        outcome: dict[str, Any] = {"result": "ok", "finish_reason": done.finish_reason,
                                   "model": done.model or model}
        if done.usage.input_tokens or done.usage.output_tokens:
            outcome.update(input_tokens=done.usage.input_tokens,
                           output_tokens=done.usage.output_tokens)
        return outcome

    def _failed(self, name: str, error: LLMError) -> None:
        health = self.health(name)
        if health.failed(error, self._clock.now_ms()):
            log.error("LLM provider %s is down after %d consecutive failures: %s", name,
                      health.consecutive_failures, error)
            self._bus.emit(BACKEND_DOWN, {
                "provider": name, "failures": health.consecutive_failures,
                "code": error.code, "error": error.message}, source=SOURCE)

    def _count(self, name: str, model: str, result: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.llm_requests.labels(name, model, result).inc()
            self._metrics.llm_duration.labels(name, model).observe(seconds)

    def _observe_ttft(self, name: str, model: str, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.llm_ttft.labels(name, model).observe(seconds)

    # --- health ----------------------------------------------------------------------------

    async def probe(self, name: str | None = None) -> ProviderHealth:
        """Probe provider ``name`` (None: the probe target) and record the outcome."""
        chosen = self.resolve(name or self.probe_target())
        loop = asyncio.get_running_loop()
        started = loop.time()
        error: LLMError | None = None
        try:
            provider = self.provider(chosen)
            config = self._config(chosen)
            timeout = min(_PROBE_TIMEOUT_SEC, config.timeout_sec if config else _PROBE_TIMEOUT_SEC)
            await asyncio.wait_for(provider.probe(), timeout)
        except LLMError as exc:
            error = exc
        except TimeoutError:
            error = LLMError(f"LLM provider {chosen!r} did not answer its health probe in time",
                             provider=chosen, code="llm_unavailable")
        health = self.health(chosen)
        health.probed(error, self._clock.now_ms(), (loop.time() - started) * 1000)
        if error is None:
            if health.succeeded(self._clock.now_ms()):
                self._bus.emit(BACKEND_RECOVERED, {"provider": chosen}, source=SOURCE)
        else:
            self._failed(chosen, error)
        return health

    async def probe_forever(self) -> None:
        """Probe the target at once, then every ``llm.probe_interval_sec`` (the boot step's
        background task)."""
        while True:
            try:
                if self.probe_target():
                    await self.probe()
            except LLMError as exc:  # not configured: /health/llm says so without a probe
                log.debug("LLM probe skipped: %s", exc)
            except Exception:
                log.exception("LLM probe failed unexpectedly")
            await self._clock.sleep(self._settings().probe_interval_sec)

    async def close(self) -> None:
        """Close every built provider."""
        built, self._built = self._built, {}
        if self._override is not None:  # the hook is asked again at the next start
            built[self._override[0]] = self._override[1]
            self._override = None
        for name, provider in built.items():
            try:
                await provider.close()
            except Exception:
                log.exception("closing LLM provider %s failed", name)
