"""BaseSource: what the built-in sources share (one tracked loop, pause, restart on configure).

Subclasses only say what to watch and what to emit; state, health counters, refusals by the bus
(counted, logged once per run, never raised) and prompt stops live here.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from aman.core.lifecycle import Spawner
from aman.errors import AmanError, BackpressureError, RateLimitedError
from aman.events.model import Event
from aman.events.sources import HealthStatus, Publish, SourceConfig, SourceState, parse_config

log = logging.getLogger(__name__)

#: How long a source's loop gets to notice its stop event before it is cancelled outright.
_STOP_GRACE_SEC = 2.0


@dataclass
class SourceStats:
    """What a source did, reported in its health."""

    emitted: int = 0
    dropped: int = 0
    suppressed_while_paused: int = 0
    last_emitted_at_ms: int | None = None
    last_drop: str | None = None
    refusing: bool = False


_STATE_DETAIL = {SourceState.STOPPED: "not started", SourceState.PAUSED: "paused; emitting nothing"}


class BaseSource(ABC):
    """Shared machinery of the built-in sources: one tracked loop, pause, restart on configure.

    Subclasses set ``type``, ``kind`` and ``config_model`` and implement ``_run(stop)``, a loop
    that returns promptly once the ``stop`` event is set; ``_prepare`` may refuse to start by
    raising.
    """

    type: ClassVar[str]
    #: The ``kind`` in the ``kind:id`` source name of the events it emits.
    kind: ClassVar[str]
    config_model: ClassVar[builtins.type[SourceConfig]]  # ``type`` is the attribute above

    def __init__(self, source_id: str, config: SourceConfig, *, publish: Publish,
                 tasks: Spawner) -> None:
        self._id = source_id
        self._config = config
        self._publish = publish
        self._tasks = tasks
        self.stats = SourceStats()
        self._wanted = False  # started and not stopped: a configure restarts the loop
        self._paused = False
        self._failure: str | None = None
        self._task: asyncio.Task[Any] | None = None
        self._stop_event: asyncio.Event | None = None

    @property
    def id(self) -> str:
        """The source id."""
        return self._id

    @property
    def event_source(self) -> str:
        """The ``source`` field of the events this source emits (``kind:id``)."""
        return f"{self.kind}:{self._id}"

    @property
    def state(self) -> SourceState:
        """Failed wins over paused; a source not started is stopped."""
        if self._failure is not None:
            return SourceState.FAILED
        if not self._wanted:
            return SourceState.STOPPED
        return SourceState.PAUSED if self._paused else SourceState.RUNNING

    @property
    def config(self) -> dict[str, Any]:
        """The configuration in force, as JSON."""
        return self._config.model_dump(mode="json")

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the loop; on failure the source is failed with the reason and this raises."""
        if self._wanted and self._failure is None:
            return
        self._wanted = True
        await self._launch(raise_errors=True)

    async def stop(self) -> None:
        """Signal the loop, wait briefly for it, cancel it if it lingers; idempotent."""
        self._wanted = False
        await self._halt()
        self._failure = None

    async def pause(self) -> None:
        """Emit nothing until resumed (the loop keeps running so resume is immediate)."""
        self._paused = True

    async def resume(self) -> None:
        """Emit again."""
        self._paused = False

    async def configure(self, config: dict[str, Any]) -> None:
        """Validate first (nothing changes on error), then restart the loop with the new config."""
        new = parse_config(self.config_model, config, self._config)
        self._check(new)
        if new == self._config and self._failure is None:
            return
        if self._wanted:
            await self._halt()
        self._config = new
        self._failure = None
        if self._wanted:
            await self._launch(raise_errors=False)

    def health(self) -> dict[str, Any]:
        """Status and counters; a source whose last events were refused is degraded."""
        stats = self.stats
        body: dict[str, Any] = {
            "emitted": stats.emitted,
            "dropped": stats.dropped,
            "suppressed_while_paused": stats.suppressed_while_paused,
            "last_emitted_at_ms": stats.last_emitted_at_ms,
            "last_drop": stats.last_drop,
        }
        if self._failure is not None:
            return {"status": HealthStatus.FAILED.value, "detail": self._failure, **body}
        if stats.refusing:
            detail = f"the bus refused its last event(s): {stats.last_drop}"
            return {"status": HealthStatus.DEGRADED.value, "detail": detail, **body}
        detail = _STATE_DETAIL.get(self.state, "running")
        return {"status": HealthStatus.OK.value, "detail": detail, **body}

    # --- for subclasses ------------------------------------------------------------------

    def _check(self, config: Any) -> None:  # noqa: B027  (optional hook)
        """Further checks of a new config (raise ``ValidationFailedError`` naming the field)."""

    async def _prepare(self) -> None:  # noqa: B027  (optional hook)
        """Called before the loop starts; raise to refuse starting."""

    @abstractmethod
    async def _run(self, stop: asyncio.Event) -> None:
        """The source's loop; return once ``stop`` is set."""

    async def emit(self, event: Event) -> bool:
        """Publish ``event`` unless paused; a refusal is counted and logged, never raised."""
        if self._paused:
            self.stats.suppressed_while_paused += 1
            return False
        try:
            result = await self._publish(event)
        except (BackpressureError, RateLimitedError) as exc:
            self._dropped(f"{exc.code}: {exc}", logging.WARNING)
            return False
        except AmanError as exc:  # not ready (shutting down), storage trouble: still not ours
            self._dropped(f"{exc.code}: {exc}", logging.INFO)
            return False
        if result.dropped:
            self._dropped(f"dropped by the bus ({result.dropped})", logging.WARNING)
            return False
        self.stats.emitted += 1
        self.stats.last_emitted_at_ms = event.timestamp
        self.stats.refusing = False
        return True

    def _dropped(self, reason: str, level: int) -> None:
        self.stats.dropped += 1
        self.stats.last_drop = reason
        if not self.stats.refusing:  # log the start of a run of refusals, not every one
            log.log(level, "source %s: event not accepted (%s); counting drops", self._id, reason)
        self.stats.refusing = True

    # --- internals -----------------------------------------------------------------------

    async def _launch(self, *, raise_errors: bool) -> None:
        try:
            await self._prepare()
        except Exception as exc:
            self._failure = str(exc) or type(exc).__name__
            log.error("source %s cannot start: %s", self._id, self._failure)
            if raise_errors:
                raise
            return
        self._failure = None
        self._stop_event = asyncio.Event()
        self._task = self._tasks.spawn(f"source:{self._id}", self._guarded(self._stop_event))

    async def _guarded(self, stop: asyncio.Event) -> None:
        try:
            await self._run(stop)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the source fails alone; its health says why
            self._failure = f"{type(exc).__name__}: {exc}"
            log.exception("source %s failed", self._id)

    async def _halt(self) -> None:
        task, self._task = self._task, None
        if self._stop_event is not None:
            self._stop_event.set()
        if task is None or task.done():
            return
        done, _ = await asyncio.wait({task}, timeout=_STOP_GRACE_SEC)
        if not done:
            log.warning("source %s did not stop within %.1fs; cancelling it", self._id,
                        _STOP_GRACE_SEC)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
