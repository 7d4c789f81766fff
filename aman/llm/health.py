"""Per-provider health: the last probe's result and the run of consecutive failures.

``/health/llm`` reads the probe half; the failure run drives the ``llm.backend_down`` and
``llm.backend_recovered`` facts. Kept apart from the registry so the rules (what counts
as a failure, when a provider is down) are in one small place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aman.llm.provider import LLMError, LLMNotConfiguredError

if TYPE_CHECKING:
    from aman.config.settings import Settings

#: Consecutive failures (calls after their retries, or probes) that make a provider "down".
DOWN_AFTER_FAILURES = 3


def default_agent_provider(settings: Settings) -> str | None:
    """The provider of the default agent (``agents.aman``, else the first agent), or the default.

    Read from settings directly: the agent service is not needed to know what to probe.
    """
    agents = settings.agents
    agent = agents.get("aman") or next(iter(agents.values()), None)
    chosen = (agent.provider if agent is not None else None) or settings.llm.default_provider
    return chosen or None


@dataclass
class ProviderHealth:
    """What is known about one provider's backend."""

    provider: str
    last_probe_at_ms: int | None = None
    last_probe_ok: bool | None = None
    last_probe_latency_ms: float | None = None
    last_error: LLMError | None = None
    last_error_at_ms: int | None = None
    last_success_at_ms: int | None = None
    consecutive_failures: int = 0
    down: bool = False

    def failed(self, error: LLMError, now_ms: int) -> bool:
        """Record a failure; True when this one makes the provider down.

        A missing backend or configuration is not an outage: it never counts toward "down".
        """
        self.last_error, self.last_error_at_ms = error, now_ms
        if isinstance(error, LLMNotConfiguredError):
            return False
        self.consecutive_failures += 1
        if not self.down and self.consecutive_failures >= DOWN_AFTER_FAILURES:
            self.down = True
            return True
        return False

    def succeeded(self, now_ms: int) -> bool:
        """Record a success; True when the provider was down until now (it recovered)."""
        recovered = self.down
        self.consecutive_failures, self.down = 0, False
        self.last_success_at_ms = now_ms
        return recovered

    def probed(self, error: LLMError | None, now_ms: int, latency_ms: float) -> None:
        """Record a probe's outcome."""
        self.last_probe_at_ms, self.last_probe_latency_ms = now_ms, round(latency_ms, 3)
        self.last_probe_ok = error is None

    def to_json(self) -> dict[str, Any]:
        """Wire shape (``/health/llm``)."""
        error = self.last_error
        return {
            "provider": self.provider,
            "last_probe_at": self.last_probe_at_ms,
            "last_probe_ok": self.last_probe_ok,
            "last_probe_latency_ms": self.last_probe_latency_ms,
            "last_success_at": self.last_success_at_ms,
            "last_error": None if error is None else {
                "code": error.code, "message": error.message, "hint": error.hint,
                "at": self.last_error_at_ms},
            "consecutive_failures": self.consecutive_failures,
            "down": self.down,
        }
