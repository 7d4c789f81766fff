"""IdleScheduler: after ``idle.after_sec`` without user activity, run an idle skill.

User activity is any ``message_received`` on the bus that is not an idle run's own message (chat
sends from ``chat:session``, IM channels from ``im:<platform>:<instance>``, pushed events). Each
such message resets the clock and cancels the pending run (``idle:cancelled``). When the wait
is over the scheduler decides once, and says what it decided: skipped in quiet hours, over
``max_runs_per_hour`` (sliding hour) or with no idle skill to run, else it picks a tag by
``idle.weights`` and starts a background run through ``IdleRunService`` (``idle:run_started``).
Either way the next decision is another ``after_sec`` away. While a run it started is still
being answered, it starts none: the quiet clock starts again when that reply is over, so on a
slow machine (or with a slow model) runs never pile up and compete with each other or with a
run asked for by hand.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from aman.clock import sleep_unless
from aman.errors import AmanError
from aman.idle import events as e
from aman.idle.skills import pick_tag

if TYPE_CHECKING:
    from aman.clock import Clock
    from aman.config.reach import IdleSettings
    from aman.core.lifecycle import TaskTracker
    from aman.events.model import Event
    from aman.idle.runs import IdleRun

log = logging.getLogger(__name__)

#: The event type that counts as user activity.
ACTIVITY_TYPE = "message_received"
#: The sliding window of ``max_runs_per_hour``.
HOUR_SEC = 3600.0


class Runner(Protocol):
    """The part of ``IdleRunService`` the scheduler needs."""

    def tags_for(self, agent_key: str | None) -> set[str]:
        """Tags a run of that agent could use now."""
        ...

    async def run(self, *, tag: str | None, agent_key: str | None = None,
                  background: bool = False, project_key: str | None = None,
                  work_id: str | None = None, trigger: str = "manual") -> IdleRun:
        """Start a run."""
        ...


class Bus(Protocol):
    """The part of the event bus the scheduler needs."""

    def observe(self, observer: Callable[[Event], None]) -> Callable[[], None]:
        """See every dispatched event; returns the undo."""
        ...

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = ...) -> None:
        """Publish a fact in the background."""
        ...


def parse_span(span: str) -> tuple[time, time]:
    """``"HH:MM-HH:MM"`` → (start, end); settings validated the shape."""
    start, end = span.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def in_quiet_hours(spans: Sequence[str], moment: time) -> bool:
    """Whether local ``moment`` falls in a span; a span may cross midnight (22:00-07:00), its
    end is excluded and a span whose start equals its end is empty."""
    for span in spans:
        start, end = parse_span(span)
        if start < end and start <= moment < end:
            return True
        if start > end and (moment >= start or moment < end):
            return True
    return False


def is_user_activity(event: Event) -> bool:
    """A ``message_received`` that is not an idle run's own message."""
    return (event.event_type == ACTIVITY_TYPE
            and event.payload.get("sender") != e.IDLE_OPERATOR)


class RunLimit:
    """At most ``limit`` runs in any sliding hour (monotonic seconds)."""

    def __init__(self) -> None:
        self._starts: deque[float] = deque()

    def allows(self, now: float, limit: int) -> bool:
        """Whether another run may start at ``now``."""
        while self._starts and now - self._starts[0] >= HOUR_SEC:
            self._starts.popleft()
        return len(self._starts) < limit

    def record(self, now: float) -> None:
        """A run started at ``now``."""
        self._starts.append(now)

    @property
    def recent(self) -> int:
        """Runs counted in the current window (as of the last check)."""
        return len(self._starts)


class IdleScheduler:
    """Watches for quiet and starts idle runs; started only when ``idle.enabled``."""

    def __init__(self, runner: Runner, bus: Bus, clock: Clock, tasks: TaskTracker,
                 settings: Callable[[], IdleSettings], *, rng: random.Random | None = None,
                 local_time: Callable[[], time] | None = None) -> None:
        self._runner = runner
        self._bus = bus
        self._clock = clock
        self._tasks = tasks
        self._settings = settings
        self._rng = rng or random.Random()  # noqa: S311 - picks a tag, not a secret
        self._local_time = local_time or self._clock_local_time
        self._limit = RunLimit()
        self._last_activity = clock.monotonic()
        self._activity_source: str | None = None
        self._woken = asyncio.Event()
        #: The reply of the last run it started, while it is being answered.
        self._running: asyncio.Future[Any] | None = None
        self._unobserve: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Observe the bus and start waiting; the quiet clock starts now."""
        self._last_activity = self._clock.monotonic()
        self._unobserve = self._bus.observe(self._observe)
        self._task = self._tasks.spawn("idle:scheduler", self._loop())

    async def stop(self) -> None:
        """Stop observing and end the wait (a run already started goes on in its session)."""
        if self._unobserve is not None:
            self._unobserve()
            self._unobserve = None
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _clock_local_time(self) -> time:
        return datetime.fromtimestamp(self._clock.now_ms() / 1000).time()

    def _observe(self, event: Event) -> None:
        if is_user_activity(event):
            self._last_activity = self._clock.monotonic()
            self._activity_source = event.source
            self._woken.set()

    async def _loop(self) -> None:
        while True:
            if self._running is not None:
                await asyncio.wait({self._running})
                self._running = None
                self._last_activity = self._clock.monotonic()
            self._woken.clear()
            settings = self._settings()
            waited = self._clock.monotonic() - self._last_activity
            remaining = settings.after_sec - waited
            if remaining > 0:
                if not await sleep_unless(self._clock, remaining, self._woken):
                    continue  # due now (the next round sees remaining <= 0)
                self._bus.emit(e.CANCELLED, {"reason": "user_activity",
                                             "activity_source": self._activity_source,
                                             "waited_sec": round(waited, 3),
                                             "after_sec": settings.after_sec},
                               source=e.SCHEDULER_SOURCE)
                continue
            await self._decide(settings)
            self._last_activity = self._clock.monotonic()

    async def _decide(self, settings: IdleSettings) -> None:
        """One decision: skip (and why), or start a run."""
        now = self._clock.monotonic()
        if in_quiet_hours(settings.quiet_hours, self._local_time()):
            self._skip("quiet_hours", quiet_hours=list(settings.quiet_hours))
            return
        if not self._limit.allows(now, settings.max_runs_per_hour):
            self._skip("rate_limited", max_runs_per_hour=settings.max_runs_per_hour,
                       runs_last_hour=self._limit.recent)
            return
        try:
            tags = self._runner.tags_for(settings.agent_id)
            tag = pick_tag(settings.weights, tags, self._rng)
            if tag is None:
                self._skip("no_skill", available=sorted(tags), weights=dict(settings.weights))
                return
            run = await self._runner.run(tag=tag, agent_key=settings.agent_id, background=True,
                                         trigger="scheduler")
        except AmanError as exc:
            if exc.code == "budget_exhausted":
                self._skip("budget_exhausted", agent_id=settings.agent_id, message=exc.message)
                return
            log.warning("idle run could not start: %s", exc)
            self._bus.emit(e.RUN_FAILED, {"code": exc.code, "message": exc.message,
                                          "agent_id": settings.agent_id},
                           source=e.SCHEDULER_SOURCE)
            return
        self._limit.record(now)
        if run.reply is not None and not run.reply.done():
            self._running = run.reply

    def _skip(self, reason: str, **detail: Any) -> None:
        log.info("idle run skipped: %s", reason)
        self._bus.emit(e.SKIPPED, {"reason": reason, **detail}, source=e.SCHEDULER_SOURCE)
