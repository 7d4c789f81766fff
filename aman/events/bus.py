"""EventBus: accept (persist first), order by priority with FIFO per source, dispatch, retry, DLQ.

- ``publish`` admits an event (rate limit, backpressure, dedup), commits it if guaranteed,
  queues it. Its answer, the subscribers and the counters are values of ``events.subscribers``.
- Workers take the next event: the highest-priority head among per-source FIFO segments. A source
  is dispatched one event at a time, so its events reach handlers in order.
- Every matching subscriber gets the event concurrently, each under its own timeout. A failure is
  retried with backoff without holding up the source; past ``max_retries`` the delivery is parked
  in the DLQ with the reason. An event is done when every delivery has settled.
- Every step is recorded in the event's trace. Events not done at a crash are re-queued at boot.
- An exactly-once delivery is committed as ``running`` before its handler is called. One found
  running after a crash or takeover is never run again by itself: it is parked in the DLQ as
  interrupted (the handler may or may not have taken effect); a DLQ retry runs it deliberately.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aman.clock import Clock
from aman.core.lifecycle import TaskTracker
from aman.errors import NotReadyError
from aman.events import types as t
from aman.events.backpressure import Level, RateLimiter, admit, level_for
from aman.events.dedup import DedupIndex
from aman.events.filters import EventFilter, EventMatcher
from aman.events.model import Delivery, Event, Priority, Unfinished
from aman.events.ports import DeadLetterPort, EventLog
from aman.events.queue import SourceFifoQueue
from aman.events.retry import RetryPolicy
from aman.events.subscribers import (
    BusStats,
    Handler,
    Observer,
    PublishResult,
    Subscriber,
    Unsubscribe,
    call_handler,
)
from aman.events.types import EventTypeRegistry

log = logging.getLogger(__name__)

class EventBus:
    """The durable priority event bus."""

    def __init__(self, event_log: EventLog, *, clock: Clock, tasks: TaskTracker,
                 types: EventTypeRegistry, max_queue_size: int, retry: RetryPolicy,
                 handler_timeout_sec: float, workers: int, rate_limiter: RateLimiter,
                 dedup_window_ms: int) -> None:
        self._log = event_log
        self._clock = clock
        self._tasks = tasks
        self.types = types
        self.max_queue_size = max_queue_size
        self.retry = retry
        self._handler_timeout = handler_timeout_sec
        self._worker_count = workers
        self._limiter = rate_limiter
        self._dedup = DedupIndex(event_log.dedup_lookup, dedup_window_ms)
        self.dead_letters: DeadLetterPort | None = None
        self.stats = BusStats()
        self.level = Level.NORMAL
        self.on_level_change: Callable[[Level, Level], None] | None = None
        self._subscribers: dict[str, Subscriber] = {}
        self._observers: list[Observer] = []
        self._queue = SourceFifoQueue()
        self.stats.depth = self._queue.depth
        self._work = asyncio.Event()
        self._idle = asyncio.Event()
        self._outstanding: dict[str, int] = {}
        self._settled_before: dict[str, set[str]] = {}
        self._interrupted: dict[str, dict[str, int]] = {}
        self._facts_pending = 0
        self._accepting = False
        self._dispatching = False
        self._workers: list[asyncio.Task[None]] = []

    # --- subscription --------------------------------------------------------------------

    def subscribe(
        self, name: str, handler: Handler, event_filter: EventMatcher | None = None,
        *, timeout: float | None = None,
    ) -> Unsubscribe:
        """Deliver matching events to ``handler`` under the stable ``name``; return the undo."""
        if name in self._subscribers:
            raise ValueError(f"a subscriber named {name!r} already exists")
        self._subscribers[name] = Subscriber(
            name, handler, event_filter or EventFilter(), timeout)

        def unsubscribe() -> None:
            self._subscribers.pop(name, None)

        return unsubscribe

    def observe(self, observer: Observer) -> Unsubscribe:
        """Call ``observer`` synchronously with every dispatched event (the SSE fan-out)."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def announce(self, event: Event) -> None:
        """Show ``event`` to observers (the SSE streams) only: never stored, delivered to no
        subscriber, never retried. For high-rate disposable facts such as reply chunks."""
        for observer in list(self._observers):
            try:
                observer(event)
            except Exception:
                log.exception("event observer failed")

    @property
    def subscriber_names(self) -> list[str]:
        """Names of current subscribers."""
        return sorted(self._subscribers)

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Open intake; dispatch waits for ``open_dispatch`` so no event meets a missing handler."""
        self._accepting = True
        self._idle.set()

    def requeue(self, recovered: list[Unfinished]) -> int:
        """Queue guaranteed events accepted earlier but not done (before a crash, or by a daemon
        that died), each for the handlers not yet settled; those found running are parked at
        dispatch as interrupted. Return how many."""
        for event, settled, running in recovered:
            self._outstanding.pop(event.id, None)
            self._settled_before[event.id] = settled
            self._interrupted[event.id] = running
            self._log.record_step(event, "requeued", detail={
                "settled_handlers": sorted(settled), "interrupted_handlers": sorted(running)})
            self._enqueue(event)
        if recovered:
            log.info("re-queued %d event(s) accepted but not done", len(recovered))
        return len(recovered)

    def open_dispatch(self) -> None:
        """Start the workers."""
        self._dispatching = True
        for number in range(self._worker_count):
            self._workers.append(self._tasks.spawn(f"bus-worker-{number}", self._worker()))

    def reconfigure(self, *, max_queue_size: int, retry: RetryPolicy,
                    handler_timeout_sec: float) -> None:
        """Apply live settings (POST /config/set); the level follows the new capacity."""
        self.max_queue_size, self.retry = max_queue_size, retry
        self._handler_timeout = handler_timeout_sec
        self._update_level()

    def close_intake(self) -> None:
        """Refuse new events from now on (stage 1 of a stop)."""
        self._accepting = False

    @property
    def accepting(self) -> bool:
        """Whether publish accepts events."""
        return self._accepting

    async def drain(self, timeout: float) -> bool:
        """Close intake and wait for queued and in-flight deliveries; True if fully drained."""
        self._accepting = False
        try:
            await asyncio.wait_for(self.wait_idle(), timeout=timeout)
            return True
        except TimeoutError:
            log.warning(
                "bus drain timed out with %d queued and %d in flight; they resume at next boot",
                self._queue.size, self.stats.inflight,
            )
            return False

    async def stop(self) -> None:
        """Stop workers; queued guaranteed events stay pending in the log for the next boot."""
        self._accepting = False
        self._dispatching = False
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._queue.clear()
        self.stats.depth = self._queue.depth
        self._outstanding.clear()

    async def wait_idle(self) -> None:
        """Return once nothing is queued, dispatching or waiting to retry."""
        while not self._is_idle():
            self._idle.clear()
            await self._idle.wait()

    # --- publish -------------------------------------------------------------------------

    async def publish(self, event: Event, *, internal: bool = False,
                      hand_to: str | None = None) -> PublishResult:
        """Admit, persist (guaranteed delivery) and queue ``event``.

        ``internal`` events (the runtime's own facts) skip the rate limit and backpressure;
        ``hand_to`` claims a guaranteed one for the leader of a cluster role (not queued here).
        Raises ``RateLimitedError`` (429), ``BackpressureError`` (503) or ``NotReadyError``.
        """
        if not self._accepting:
            raise NotReadyError("the event bus is not accepting events (runtime not ready)")
        if not internal:
            wait = self._limiter.acquire(event.source, self._clock.monotonic())
            event, dropped = admit(event, level=self.level, queued=self._queue.size,
                                   capacity=self.max_queue_size, wait=wait, stats=self.stats)
            if dropped is not None:
                self.stats.discarded += 1
                return PublishResult(event, dropped=dropped)
        now = self._clock.now_ms()
        expires = None
        if event.dedup_key:
            original = await self._dedup.claim(event.dedup_key, event.id, now)
            if original is not None:
                self.stats.duplicates += 1
                self._log.record_step_of(original, "duplicate", {
                    "dedup_key": event.dedup_key, "source": event.source})
                return PublishResult(event.with_changes(id=original), duplicate=True)
            expires = now + self._dedup.window_ms
        seq = await self._log.allocate_seq()
        if event.metadata.max_retries is None:
            event = event.with_changes(
                seq=seq, metadata=replace(event.metadata, max_retries=self.retry.max_retries))
        else:
            event = event.with_changes(seq=seq)
        try:
            await self._log.append(event, durable=event.delivery.guaranteed,
                                   dedup_expires_at=expires, claimant=hand_to)
        except BaseException:
            if event.dedup_key:
                self._dedup.release(event.dedup_key)
            raise
        self.stats.published += 1
        if hand_to is None:
            self._enqueue(event)
        return PublishResult(event)

    # --- queue ---------------------------------------------------------------------------

    def _enqueue(self, event: Event) -> None:
        self._queue.push(event)
        self._update_level()
        self._work.set()

    def _take(self) -> Event | None:
        event = self._queue.take()
        if event is not None:
            self._update_level()
        return event

    def _release(self, source: str) -> None:
        if self._queue.release(source):
            self._work.set()

    def _update_level(self) -> None:
        level = level_for(self._queue.size, self.max_queue_size)
        if level is not self.level:
            previous, self.level = self.level, level
            if self.on_level_change is not None:
                self.on_level_change(previous, level)

    @property
    def pending(self) -> int:
        """Events queued and not yet dispatched."""
        return self._queue.size

    # --- dispatch ------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            self._work.clear()
            event = self._take() if self._dispatching else None
            if event is None:
                self._signal_idle()
                await self._work.wait()
                continue
            self.stats.inflight += 1
            try:
                await self._dispatch(event)
            except Exception:
                log.exception("dispatch of event %s failed", event.id)
            finally:
                self.stats.inflight -= 1
                self._release(event.source)

    def _is_idle(self) -> bool:
        return (self._queue.size == 0 and self.stats.inflight == 0 and not self._outstanding
                and self._facts_pending == 0)

    def _signal_idle(self) -> None:
        if self._is_idle():
            self._idle.set()

    async def _dispatch(self, event: Event) -> None:
        interrupted = self._interrupted.pop(event.id, {})
        if event.expired(self._clock.now_ms()):
            self.stats.expired += 1
            self._log.record_step(event, "expired", detail={"ttl_ms": event.metadata.ttl_ms})
            for handler, attempts in interrupted.items():
                await self._park_interrupted(event, handler, attempts)
            self._log.mark_status(event, "expired")
            return
        self.types.seen(event.event_type)
        settled = self._settled_before.pop(event.id, set())
        targets = [s for s in self._subscribers.values() if s.name not in settled
                   and s.name not in interrupted and s.filter.matches(event)]
        self._log.record_step(event, "dispatched", detail={"handlers": [s.name for s in targets]})
        self.announce(event)
        self._log.dispatched(event)
        self.stats.delivered += 1
        if not targets and not interrupted:
            self._log.mark_status(event, "done")
            return
        self._outstanding[event.id] = len(targets) + len(interrupted)
        await asyncio.gather(
            *(self._deliver(event, sub, attempt=1) for sub in targets),
            *(self._park_interrupted(event, name, n, settle=True)
              for name, n in interrupted.items()))

    async def _park_interrupted(self, event: Event, handler: str, attempts: int, *,
                                settle: bool = False) -> None:
        """Park a delivery found running: running it again could do its work twice."""
        reason = (f"interrupted: the daemon stopped while handler {handler} ran; it may or may "
                  "not have taken effect — retry from the DLQ if it did not")
        self._log.record_step(event, "interrupted", handler=handler, detail={"attempt": attempts})
        await self._dead_letter(event, handler, reason, attempts)
        if settle:
            self._settle(event, None, "dead")

    async def _deliver(self, event: Event, sub: Subscriber, attempt: int,
                       outcome: asyncio.Future[str] | None = None) -> None:
        once = event.delivery is Delivery.EXACTLY_ONCE
        if once:  # committed first: a crash from here on must not run the handler again
            await self._log.record_delivery(event, sub.name, "running", attempt, durable=True)
        error, asked_delay = await call_handler(sub, event, self._handler_timeout)
        if error is None:
            self._log.record_step(event, "handler_ok", handler=sub.name,
                                  detail={"attempt": attempt})
            await self._log.record_delivery(event, sub.name, "ok", attempt, durable=once)
            self._settle(event, outcome, "ok")
            return
        self.stats.handler_failures += 1
        budget = event.metadata.max_retries
        will_retry = attempt <= (self.retry.max_retries if budget is None else budget)
        detail = {"attempt": attempt, "error": error, "will_retry": will_retry}
        self._log.record_step(event, "handler_failed", handler=sub.name, detail=detail)
        if attempt == 1 and event.source not in t.SYSTEM_SOURCES:
            self.emit(t.HANDLER_FAILED, {"event_id": event.id, "handler": sub.name,
                                         "event_type": event.event_type, **detail}, cause=event)
        if will_retry:
            if once:  # no longer running: a crash during the backoff runs it again
                await self._log.record_delivery(event, sub.name, "failed", attempt, durable=True)
            delay = max(self.retry.delay_sec(attempt), asked_delay or 0.0)
            self._log.record_step(event, "retry_scheduled", handler=sub.name,
                                  detail={"attempt": attempt + 1, "delay_ms": round(delay * 1000)})
            self.stats.retries_pending += 1
            self._tasks.spawn(f"retry:{event.id}:{sub.name}",
                              self._retry_later(event, sub, attempt + 1, delay, outcome))
            return
        reason = f"handler {sub.name} failed {attempt} time(s); last error: {error}"
        if outcome is not None:  # a manual DLQ retry: its caller decides what happens
            if once:  # back to dead, as its DLQ entry is
                await self._log.record_delivery(event, sub.name, "dead", attempt, durable=True)
            self._settle(event, outcome, reason)
            return
        await self._dead_letter(event, sub.name, reason, attempt)
        self._settle(event, outcome, "dead")

    async def _retry_later(self, event: Event, sub: Subscriber, attempt: int, delay: float,
                           outcome: asyncio.Future[str] | None) -> None:
        try:
            await self._clock.sleep(delay)
        finally:
            self.stats.retries_pending -= 1
        current = self._subscribers.get(sub.name)
        if current is None or not self._dispatching:
            # The subscriber left (or the bus is stopping): the event stays pending for the
            # next boot, or is settled as unsubscribed.
            if current is None:
                self._log.record_step(event, "handler_gone", handler=sub.name)
                self._settle(event, outcome, f"handler {sub.name} is no longer subscribed")
            return
        self._log.record_step(event, "retried", handler=sub.name, detail={"attempt": attempt})
        await self._deliver(event, current, attempt, outcome)

    async def _dead_letter(self, event: Event, handler: str, reason: str, attempts: int) -> None:
        self.stats.dead_lettered += 1
        if self.dead_letters is None:
            log.error("no DLQ attached; delivery of %s to %s lost: %s", event.id, handler, reason)
            return
        entry_id = await self.dead_letters.park(event, handler, reason, attempts)
        self._log.record_step(event, "dead_lettered", handler=handler,
                              detail={"dlq_id": entry_id, "reason": reason})
        await self._log.record_delivery(event, handler, "dead", attempts, durable=True)

    def _settle(self, event: Event, outcome: asyncio.Future[str] | None, result: str) -> None:
        if outcome is not None:
            if not outcome.done():
                outcome.set_result(result)
            return
        left = self._outstanding.get(event.id, 0) - 1
        if left <= 0:
            self._outstanding.pop(event.id, None)
            self._log.mark_status(event, "done")
            self._log.record_step(event, "done")
            self._signal_idle()
        else:
            self._outstanding[event.id] = left

    def redeliver(self, event: Event, handler: str) -> asyncio.Future[str]:
        """Deliver ``event`` to one subscriber again with fresh retries (a manual DLQ retry).

        The future resolves to ``"ok"`` or to the reason it failed again; nothing is parked.
        """
        outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        sub = self._subscribers.get(handler)
        if sub is None:
            outcome.set_result(f"handler {handler} is no longer subscribed")
            return outcome
        self._log.record_step(event, "manual_retry", handler=handler)
        self._tasks.spawn(f"redeliver:{event.id}:{handler}", self._deliver(event, sub, 1, outcome))
        return outcome

    async def _publish_fact(self, fact: Event) -> None:
        try:
            if self._accepting:
                await self.publish(fact, internal=True)
        finally:
            self._facts_pending -= 1
            self._signal_idle()

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = t.BUS_SOURCE,
             cause: Event | None = None) -> None:
        """Publish a runtime fact in the background (never refused by backpressure)."""
        fact = Event.create(source=source, event_type=event_type, payload=payload,
                            priority=Priority.HIGH, parent=cause)
        self._facts_pending += 1
        self._tasks.spawn(f"fact:{event_type}", self._publish_fact(fact))
