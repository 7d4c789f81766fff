"""ChannelOutbox: durable outbound IM messages, sent through the bus so nothing is lost.

Every outbound text is an ``im:outbound`` event (committed before ``enqueue`` returns, deduped by
its delivery key) handled by the subscriber ``im-outbound``, which posts it through the
platform's API. A failed send is retried with the bus's backoff (longer when the platform asks
with 429 ``Retry-After``), then parked in the DLQ, where ``POST /dlq/{id}/retry`` sends it again.
Each accepted part is recorded, so a redelivery after a crash or a DLQ retry sends only the
parts the platform has not taken: a reply is never posted twice.

Each attempt's outcome is announced as ``im:delivered`` / ``im:delivery_failed`` and kept per
channel (``last_ok``), which capabilities read as the channel's health.

With several daemons on one store, one sends: the leader of the ``channel_outbox`` role. Another
daemon stores its outbound texts handed to that leader (``hand_to``) instead of queueing them,
and the leader dispatches them behind its own, one at a time per channel as a lone daemon does,
so the replies of a chat go out in the order they were queued, each once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aman.channels.model import ConversationRepository, ReplyTarget
from aman.channels.registry import ChannelRegistry
from aman.channels.senders import TEXT_LIMIT, DeliveryFailedError, send_part, split_text
from aman.clock import Clock
from aman.events.filters import EventFilter
from aman.events.model import Delivery, Event, Priority
from aman.events.types import EventTable

if TYPE_CHECKING:
    import httpx

    from aman.events.bus import EventBus
    from aman.events.subscribers import Unsubscribe

log = logging.getLogger(__name__)

OUTBOUND = "im:outbound"
DELIVERED = "im:delivered"
DELIVERY_FAILED = "im:delivery_failed"
#: Every type the outbound side emits, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (OUTBOUND, "A reply is queued for an IM channel (delivered at least once)."),
    (DELIVERED, "A reply reached the IM platform."),
    (DELIVERY_FAILED, "Sending a reply to the IM platform failed; it is retried."),
)
HANDLER = "im-outbound"
#: A handler attempt covers every part of a long reply, each with its own request timeout.
_HANDLER_TIMEOUT_SEC = 300.0


#: What every outbound source starts with.
OUT_PREFIX = "im-out:"


def outbound_source(platform: str, instance: str) -> str:
    """Outbound traffic has its own bus source per channel, so it never queues behind inbound."""
    return f"{OUT_PREFIX}{platform}:{instance}"


class ChannelOutbox:
    """Queues outbound texts and sends them; owns the HTTP client."""

    def __init__(self, registry: ChannelRegistry, repo: ConversationRepository,
                 bus: EventBus, clock: Clock,
                 hand_to: Callable[[], str | None] = lambda: None) -> None:
        self._registry = registry
        #: Whom outbound texts are handed to (None: this daemon sends them).
        self._hand_to = hand_to
        self._repo = repo
        self._bus = bus
        self._clock = clock
        self._client: httpx.AsyncClient | None = None
        self._unsubscribe: Unsubscribe | None = None
        #: Whether this daemon sends every daemon's texts (the ``channel_outbox`` leader).
        self.leading = False
        #: (platform, instance) → whether the last send attempt was taken.
        self.last_ok: dict[tuple[str, str], bool] = {}

    def start(self) -> None:
        """Subscribe the sender (before dispatch opens, so recovered deliveries go out)."""
        self._unsubscribe = self._bus.subscribe(
            HANDLER, self._deliver, EventFilter(event_types=frozenset({OUTBOUND})),
            timeout=_HANDLER_TIMEOUT_SEC)

    async def lead(self) -> None:
        """This daemon leads ``channel_outbox``: the cluster hands it the texts the others queue
        (every daemon keeps its sender subscribed for the texts it takes over from a dead one)."""
        self.leading = True
        log.info("sending the IM texts of every daemon on the store")

    async def unlead(self) -> None:
        """Another daemon sends from now on; texts queued here after this are handed to it."""
        self.leading = False

    async def stop(self) -> None:
        """Unsubscribe and close the client (pending deliveries stay stored for the next boot)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def enqueue(self, target: ReplyTarget, text: str, *, delivery_key: str,
                      kind: str, session_id: str | None = None) -> bool:
        """Store an outbound text for ``target``; False when that key was queued before."""
        payload: dict[str, Any] = {"platform": target.platform, "instance": target.instance,
                                   **target.to_json(), "text": text, "kind": kind,
                                   "delivery_key": delivery_key, "session_id": session_id}
        published = await self._bus.publish(Event.create(
            source=outbound_source(target.platform, target.instance), event_type=OUTBOUND,
            payload=payload, delivery=Delivery.AT_LEAST_ONCE, priority=Priority.HIGH,
            dedup_key=f"im-out:{delivery_key}", now_ms=self._clock.now_ms()), internal=True,
            hand_to=self._hand_to())
        return not published.duplicate

    async def _deliver(self, event: Event) -> None:
        payload = event.payload
        target = ReplyTarget.from_json(payload["platform"], payload["instance"], payload)
        config = self._registry.get(target.platform, target.instance).config
        key = str(payload["delivery_key"])
        parts = split_text(str(payload["text"]), TEXT_LIMIT.get(target.platform))
        done = await self._repo.sent_parts(key)
        for index, part in enumerate(parts):
            if index in done:
                continue
            try:
                await send_part(self._client_for(), config, target, part, delivery_key=key,
                                part=index, parts=len(parts))
            except DeliveryFailedError as exc:
                self._outcome(target, False, event, error=str(exc), part=index, parts=len(parts))
                raise
            await self._repo.mark_sent(key, index, self._clock.now_ms())
        self._outcome(target, True, event, parts=len(parts), skipped=len(done))

    def _client_for(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx  # only daemons that talk on a channel pay for the import

            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    def _outcome(self, target: ReplyTarget, ok: bool, event: Event, **detail: Any) -> None:
        channel = (target.platform, target.instance)
        changed = self.last_ok.get(channel) != ok
        self.last_ok[channel] = ok
        if not ok:
            log.warning("IM delivery %s failed: %s", event.payload["delivery_key"],
                        detail.get("error"))
        self._bus.emit(DELIVERED if ok else DELIVERY_FAILED,
                       {"platform": target.platform, "instance": target.instance,
                        "delivery_key": event.payload["delivery_key"], "event_id": event.id,
                        "health_changed": changed, **detail}, cause=event)
