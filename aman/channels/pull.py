"""PullSource: a channel instance that fetches its own messages (long polling, a socket it opens).

A daemon behind NAT cannot be reached by a platform's webhook, so it reaches out instead. Each
pulling instance is an event source (``im:<platform>:<instance>`` on ``GET /event-sources``)
whose state says where its connection stands: ``connecting``, ``polling`` / ``connected``,
``backing_off`` (a network error, a 429, a refusal by the bus: retried forever, the wait shown)
or ``failed`` (the platform refused in a way only the operator can fix, said in ``hint``; still
retried, slowly, so the fix is picked up without a restart). Pausing closes the connection: the
platform keeps the messages until it is resumed.

Every update goes through ``ChannelInbox.receive_pulled``, the webhook's path from classification
on, and the platform is told it was taken (the next offset, an envelope ack) only once its event
is committed; the dedup key of each message is the second guard.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from aman.channels.base import Dropped, Ignored
from aman.config.reach import ChannelSettings, intake_mode
from aman.errors import (
    AmanError,
    InvalidInputError,
    RateLimitedError,
    UnavailableError,
    ValidationFailedError,
)
from aman.events.sources import HealthStatus, SourceState

if TYPE_CHECKING:
    from aman.channels.inbox import ChannelInbox
    from aman.clock import Clock
    from aman.core.lifecycle import TaskTracker

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds between attempts after consecutive failures; the last one repeats for ever. Short at
#: first, because most drops (a socket refresh, a blip of Wi-Fi) heal at once.
BACKOFF_SEC = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: How long a loop busy with an update gets to reach its next wait before it is cancelled.
_STOP_GRACE_SEC = 5.0


class PlatformError(Exception):
    """The platform (or the way to it) failed this attempt.

    ``retry_after`` is the platform's own wait (429); ``hint`` says how to fix a refusal only
    the operator can fix, which marks the source failed while it lasts.
    """

    def __init__(self, message: str, *, retry_after: float | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.hint = hint


class _Halted(Exception):
    """The loop was asked to stop or pause."""


@dataclass
class PullStats:
    """What a pulling instance took, reported in its health."""

    received: int = 0
    duplicates: int = 0
    dropped: int = 0
    ignored: int = 0
    skipped: int = 0
    last_received_at_ms: int | None = None


class PullSource(ABC):
    """One pulling channel instance, kept as an ``EventSource``; subclasses implement ``_session``,
    which connects, takes updates through ``deliver`` and raises ``PlatformError`` when the
    platform fails (or returns to be reconnected at once)."""

    platform: ClassVar[str]
    type: ClassVar[str]
    #: The state while updates can flow: ``polling`` or ``connected``.
    live_state: ClassVar[SourceState]

    def __init__(self, instance: str, config: ChannelSettings, *, inbox: ChannelInbox,
                 clock: Clock, tasks: TaskTracker,
                 on_health: Callable[[], None] = lambda: None) -> None:
        self.instance = instance
        self.channel_config = config
        self._inbox = inbox
        self._clock = clock
        self._tasks = tasks
        self._on_health = on_health
        self.stats = PullStats()
        self._state = SourceState.STOPPED
        self._wanted = False
        self._paused = False
        self._task: asyncio.Task[None] | None = None
        self._halting = False
        self._interruptible = False
        self._failures = 0
        self.last_error: str | None = None
        self.last_error_at_ms: int | None = None
        self.hint: str | None = None
        self.retry_at_ms: int | None = None

    # --- EventSource -----------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The bus source of its messages, ``im:<platform>:<instance>``."""
        return f"im:{self.platform}:{self.instance}"

    @property
    def state(self) -> SourceState:
        """Paused while paused, else where the connection stands."""
        if self._paused and self._wanted:
            return SourceState.PAUSED
        return self._state

    @property
    def config(self) -> dict[str, Any]:
        """What it runs with (no token): platform, instance, mode and where it connects."""
        return {"platform": self.platform, "instance": self.instance,
                "mode": intake_mode(self.platform, self.channel_config),
                "api_base": self.api_base, **self._extra_config()}

    @property
    def api_base(self) -> str:
        """The platform API base in force."""
        from aman.config.reach import DEFAULT_API_BASE

        return (self.channel_config.api_base or DEFAULT_API_BASE[self.platform]).rstrip("/")

    async def start(self) -> None:
        """Begin pulling (unless paused); never raises: trouble shows in the state."""
        if self._wanted:
            return
        self._wanted = True
        if not self._paused:
            self._launch()

    async def stop(self) -> None:
        """Close the connection; idempotent."""
        self._wanted = False
        await self._halt()
        self._set_state(SourceState.STOPPED)

    async def pause(self) -> None:
        """Close the connection and take nothing until resumed (the platform keeps it)."""
        self._paused = True
        await self._halt()
        self._on_health()

    async def resume(self) -> None:
        """Connect again after a pause."""
        if not self._paused:
            return
        self._paused = False
        if self._wanted and self._task is None:
            self._launch()
        self._on_health()

    async def configure(self, config: dict[str, Any]) -> None:
        """Refused: a channel's intake is configured under ``channels.*``."""
        raise ValidationFailedError(
            f"event source {self.id} is configured by channels.{self.platform}.{self.instance}",
            hint=f"POST /config/set with channels.{self.platform}.{self.instance}.mode, "
                 "bot_token, app_token, api_base or poll_timeout_sec; only this instance restarts.")

    def health(self) -> dict[str, Any]:
        """Status (ok, degraded while backing off or paused, failed), the last error and the fix."""
        state = self.state
        if state is SourceState.FAILED:
            status = HealthStatus.FAILED
        elif state in (SourceState.BACKING_OFF, SourceState.PAUSED):
            status = HealthStatus.DEGRADED
        else:
            status = HealthStatus.OK
        detail = {SourceState.STOPPED: "not started", SourceState.PAUSED: "paused; not connected",
                  SourceState.CONNECTING: "connecting", SourceState.POLLING: "polling",
                  SourceState.CONNECTED: "connected"}.get(state)
        if detail is None:  # backing off or failed
            detail = f"{self.last_error}; retrying" + (f" ({self.hint})" if self.hint else "")
        stats = self.stats
        return {"status": status.value, "detail": detail, "last_error": self.last_error,
                "last_error_at_ms": self.last_error_at_ms, "hint": self.hint,
                "retry_at_ms": self.retry_at_ms, "received": stats.received,
                "duplicates": stats.duplicates, "dropped": stats.dropped,
                "ignored": stats.ignored, "skipped": stats.skipped,
                "last_received_at_ms": stats.last_received_at_ms}

    # --- for subclasses --------------------------------------------------------------------

    def _extra_config(self) -> dict[str, Any]:
        return {}

    @abstractmethod
    async def _session(self) -> None:
        """Connect and take updates until the platform fails (raise ``PlatformError``) or asks
        to be reconnected (return)."""

    async def interruptibly(self, awaitable: Awaitable[T]) -> T:
        """Await a network wait or a sleep that a stop or a pause may cut short."""
        if self._halting:
            _close(awaitable)
            raise _Halted
        self._interruptible = True
        try:
            return await awaitable
        finally:
            self._interruptible = False

    def live(self) -> None:
        """The platform answered: updates flow, failures are forgotten."""
        self._failures = 0
        self.retry_at_ms = None
        self._set_state(self.live_state)

    def connecting(self) -> None:
        """A (re)connection is under way."""
        self._set_state(SourceState.CONNECTING)

    async def deliver(self, body: dict[str, Any]) -> None:
        """Hand one update to the inbox; returns once it is committed (or was a duplicate, a
        stranger's, something to ignore, or malformed and skipped). While the bus refuses it
        (backpressure, a rate limit, shutting down) it is retried in place, backing off."""
        while True:
            try:
                received = await self._inbox.receive_pulled(self.platform, self.instance, body)
            except InvalidInputError as exc:
                self.stats.skipped += 1
                self._note_error(f"skipped a malformed update: {exc}")
                log.warning("%s: skipped a malformed update: %s", self.id, exc)
                return
            except (RateLimitedError, UnavailableError) as exc:
                await self._back_off(f"the event bus refused a message ({exc.code}): {exc}",
                                     retry_after=exc.retry_after)
                continue
            except AmanError as exc:  # disabled meanwhile, storage trouble
                await self._back_off(f"{exc.code}: {exc}")
                continue
            published = received.published
            if published is not None and published.dropped:
                await self._back_off(f"the event bus dropped a message ({published.dropped})")
                continue
            break
        verdict = received.verdict
        if isinstance(verdict, Dropped):
            self.stats.dropped += 1
        elif isinstance(verdict, Ignored):
            self.stats.ignored += 1
        elif published is not None and published.duplicate:
            self.stats.duplicates += 1
        else:
            self.stats.received += 1
            self.stats.last_received_at_ms = self._clock.now_ms()
        if self._state is not self.live_state:  # it waited out a refusal: the link is fine
            self.live()

    # --- internals -------------------------------------------------------------------------

    def _launch(self) -> None:
        self._halting = False
        self.connecting()
        self._task = self._tasks.spawn(f"im-intake:{self.platform}:{self.instance}", self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self._session()
                continue  # asked to reconnect
            except _Halted:
                return
            except PlatformError as exc:
                error, retry_after, hint = str(exc), exc.retry_after, exc.hint
            except Exception as exc:  # noqa: BLE001 - retried for ever; the state says why
                error, retry_after, hint = f"{type(exc).__name__}: {exc}", None, None
                log.exception("%s: unexpected error", self.id)
            try:
                await self._back_off(error, retry_after=retry_after, hint=hint)
            except _Halted:
                return

    async def _back_off(self, error: str, *, retry_after: float | None = None,
                        hint: str | None = None) -> None:
        delay = BACKOFF_SEC[min(self._failures, len(BACKOFF_SEC) - 1)]
        if retry_after is not None:
            delay = max(retry_after, 0.0)  # the platform's own wait, exactly
        self._failures += 1
        self._note_error(error, hint)
        self.retry_at_ms = self._clock.now_ms() + int(delay * 1000)
        self._set_state(SourceState.FAILED if hint else SourceState.BACKING_OFF)
        if self._failures == 1 or hint:
            log.warning("%s: %s; retrying in %.1fs%s", self.id, error, delay,
                        f" ({hint})" if hint else "")
        await self.interruptibly(self._clock.sleep(delay))
        self.connecting()

    def _note_error(self, error: str, hint: str | None = None) -> None:
        self.last_error = error
        self.hint = hint
        self.last_error_at_ms = self._clock.now_ms()

    def _set_state(self, state: SourceState) -> None:
        before = self.health_status()
        self._state = state
        if self.health_status() != before:
            self._on_health()

    def health_status(self) -> str:
        """``ok``, ``degraded`` or ``failed``, as ``health()`` says."""
        return str(self.health()["status"])

    async def _halt(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._halting = True
        if not self._interruptible:  # busy with an update: let it finish and reach its wait
            done, _ = await asyncio.wait({task}, timeout=_STOP_GRACE_SEC)
            if done:
                return
            log.warning("%s did not stop within %.1fs; cancelling it", self.id, _STOP_GRACE_SEC)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _close(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()  # a coroutine never awaited would warn
