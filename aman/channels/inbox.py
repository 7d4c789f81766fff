"""ChannelInbox: one inbound request or pulled update, from its adapter's verdict to the bus.

Messages are published as ``message_received`` from ``im:<platform>:<instance>`` with at-least-once
delivery and the platform's delivery identity as dedup key, so a platform retry of a message
already accepted is answered as a duplicate instead of being enqueued again. Messages from
strangers are dropped with an audit record. The answer to the platform is always a 2xx once the
request is verified: platforms retry anything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aman.audit.log import AuditLog
from aman.channels.base import (
    Challenge,
    ChannelAdapter,
    Dropped,
    Ignored,
    InboundMessage,
    Verdict,
)
from aman.channels.registry import ChannelRegistry
from aman.clock import Clock
from aman.events.model import Delivery, Event
from aman.events.subscribers import PublishResult
from aman.events.types import MESSAGE_RECEIVED

Publish = Callable[[Event], Awaitable[PublishResult]]

DROPPED_ACTION = "im.message_dropped"


def event_source(platform: str, instance: str) -> str:
    """The bus source of a channel's events."""
    return f"im:{platform}:{instance}"


@dataclass(frozen=True)
class Received:
    """What became of one verified request."""

    verdict: Verdict
    published: PublishResult | None = None

    def to_json(self) -> dict[str, Any]:
        """The body the platform is answered with."""
        verdict = self.verdict
        if isinstance(verdict, Challenge):
            return dict(verdict.reply)
        if isinstance(verdict, Ignored):
            return {"ok": True, "ignored": verdict.reason}
        if isinstance(verdict, Dropped):
            return {"ok": True, "dropped": verdict.reason}
        assert self.published is not None
        body: dict[str, Any] = {
            "ok": True,
            "event_id": self.published.event.id,
            "duplicate": self.published.duplicate,
        }
        if self.published.dropped:
            body["dropped"] = self.published.dropped
        return body


class ChannelInbox:
    """Receives verified channel traffic and hands messages to the bus."""

    def __init__(
        self, registry: ChannelRegistry, *, publish: Publish, audit: AuditLog, clock: Clock
    ) -> None:
        self._registry = registry
        self._publish = publish
        self._audit = audit
        self._clock = clock

    async def receive(
        self,
        platform: str,
        instance: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        *,
        request_id: str | None = None,
    ) -> Received:
        """Verify and classify one request, then publish, drop or ignore it.

        Raises ``NotFoundError`` for an unknown channel, ``ForbiddenError`` for a disabled one,
        ``UnauthorizedError`` when verification fails (nothing is published) and
        ``InvalidInputError`` for a verified body that is not what the platform sends.
        """
        adapter = self._registry.get(platform, instance)
        verdict = adapter.receive(headers, raw_body, self._clock.now_ms())
        return await self._settle(adapter, verdict, request_id)

    async def receive_pulled(self, platform: str, instance: str,
                             body: dict[str, Any]) -> Received:
        """One update the daemon pulled itself (long polling, Socket Mode): the same path as a
        webhook request from classification on. Once this returns, a message's event is
        committed (or was a duplicate) and a stranger's drop is audited; the caller may then
        tell the platform it has the update. Publishing errors (backpressure, a rate limit, not
        ready) propagate, and so do ``InvalidInputError`` for a malformed update."""
        adapter = self._registry.get(platform, instance)
        return await self._settle(adapter, adapter.accept(body), None)

    async def _settle(self, adapter: ChannelAdapter, verdict: Verdict,
                      request_id: str | None) -> Received:
        platform, instance = adapter.platform, adapter.instance
        if isinstance(verdict, Dropped):
            await self._audit_drop(adapter.name, verdict, request_id)
            return Received(verdict)
        if not isinstance(verdict, InboundMessage):
            return Received(verdict)
        event = Event.create(
            source=event_source(platform, instance),
            event_type=MESSAGE_RECEIVED,
            payload=verdict.payload(platform, instance),
            agent_id=adapter.config.agent_id,
            delivery=Delivery.AT_LEAST_ONCE,
            dedup_key=verdict.dedup_key,
            now_ms=self._clock.now_ms(),
        )
        return Received(verdict, await self._publish(event))

    async def _audit_drop(self, channel: str, dropped: Dropped, request_id: str | None) -> None:
        message = dropped.message
        # Who and where, never what: the text of a stranger's message stays out of the log.
        await self._audit.record(
            DROPPED_ACTION,
            operator=channel,
            target=f"im:{channel}",
            outcome="forbidden",
            detail={
                "reason": dropped.reason,
                "chat_id": message.chat_id,
                "message_id": message.message_id,
                "user_id": message.user.id,
                "dedup_key": message.dedup_key,
            },
            request_id=request_id,
        )
