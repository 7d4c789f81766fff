"""GET /events/stream: the live SSE stream of dispatched events and periodic snapshots.

Messages: ``event:processed`` (the event JSON) for every dispatched event that passes the
client's filters, ``stream:lagged`` ``{lost, reason}`` when the client fell behind, and every
``stream.snapshot_interval_sec`` the snapshots ``runtime:updated``, ``metrics:updated`` and
``notification:updated``. Every message's SSE ``id`` is the ``seq`` of the last event the client
has seen, so a reconnect with ``Last-Event-ID`` resumes from there.

The route is public by contract. With ``http.token`` configured, a client without credentials
gets event envelopes without ``payload``; the token or a key with the read scope (a header,
``?token=`` because browsers' EventSource cannot set headers, or the console's sign-in cookie)
gets full events; a wrong secret is a 401 and a key without read a 403. A revoked key's open
streams end at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import Field
from quart import Blueprint, Request, Response, g, request

from aman.auth.model import Principal
from aman.auth.service import KeyService
from aman.errors import AmanError, NotReadyError, ValidationFailedError
from aman.events import telemetry
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.events.stream import Lagged, StreamClient, StreamItem
from aman.http import sse
from aman.http.auth import (
    authenticate,
    console_principal,
    current_principal,
    presented_token,
    require,
)
from aman.http.context import runtime
from aman.http.openapi import text_response
from aman.http.policy import policy
from aman.http.schemas import QueryModel
from aman.http.validation import validate_query

if TYPE_CHECKING:
    from aman.core.runtime import Runtime

bp = Blueprint("stream", __name__)
log = logging.getLogger(__name__)

EVENT_PROCESSED = "event:processed"
STREAM_LAGGED = "stream:lagged"
RUNTIME_UPDATED = "runtime:updated"
METRICS_UPDATED = "metrics:updated"
NOTIFICATION_UPDATED = "notification:updated"

#: Most comma-separated filter values, so a query string cannot make fan-out expensive.
_MAX_FILTER_VALUES = 50
#: A seq is a SQLite integer (below 2**63): longer ids cannot be ours.
_MAX_SEQ_DIGITS = 18


class StreamQuery(QueryModel):
    """Query of GET /events/stream."""

    types: str | None = Field(None, max_length=4000,
                              description="Comma-separated event types; `*` globs allowed.")
    sources: str | None = Field(None, max_length=4000,
                                description="Comma-separated sources; `*` globs allowed.")
    token: str | None = Field(None,
                              description="The API token, for clients that cannot send headers.")


def _split(value: str | None, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = frozenset(part.strip() for part in value.split(",") if part.strip())
    if len(items) > _MAX_FILTER_VALUES:
        raise ValidationFailedError(
            f"query.{name} lists {len(items)} values; at most {_MAX_FILTER_VALUES} are allowed",
            hint="Use `*` globs to match many values.",
        )
    return items or None


def stream_principal(req: Request, keys: KeyService, query_token: str | None) -> Principal | None:
    """Who reads the stream (None: no credentials, so envelopes without payloads).

    Credentials that are wrong, or a key without the read scope, are refused, never downgraded.
    """
    if not keys.enforced:
        return current_principal()
    presented = [t for t in (presented_token(req), query_token) if t is not None]
    principals = ([authenticate(req, keys, secret) for secret in presented] if presented
                  else [p for p in (console_principal(req, keys),) if p is not None])
    if not principals:
        return None
    require(principals[0], ("read",), "the event stream with payloads")
    g.principal = principals[0]
    return principals[0]


def end_on_revoke(keys: KeyService, principal: Principal | None,
                  session: StreamSession) -> Callable[[], None]:
    """End ``session`` the moment its key is revoked; returns the undo (run on close)."""
    if principal is None or principal.key_id is None:
        return lambda: None
    return keys.watch(principal.key_id, session.end)


def last_event_id(req: Request) -> int | None:
    """The seq a reconnecting client saw last (``Last-Event-ID``), or None for a fresh stream."""
    raw = req.headers.get("Last-Event-ID", "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > _MAX_SEQ_DIGITS:
        raise ValidationFailedError(
            f"Last-Event-ID must be an event seq (a non-negative integer), not {raw[:40]!r}",
            hint="Send back the id of the last message received, or omit the header.",
        )
    return int(raw)


def _snapshots(rt: Runtime, cursor: int) -> list[sse.SseMessage]:
    notifications = getattr(rt, "notifications", None)
    unread = getattr(notifications, "unread_count_cached", 0) if notifications is not None else 0
    return [
        sse.SseMessage(RUNTIME_UPDATED,
                       {"phase": int(rt.phases.phase), "ready": rt.ready, "live": True}, cursor),
        sse.SseMessage(METRICS_UPDATED, telemetry.snapshot(rt.bus, rt.dlq), cursor),
        sse.SseMessage(NOTIFICATION_UPDATED, {"unread_count": unread}, cursor),
    ]


class StreamSession:
    """One connection: its hub client, cursor and snapshot clock.

    The client registers on the first read, inside the response generator, so a response that
    is never streamed leaves nothing registered; the generator's close always unregisters it.
    """

    def __init__(self, rt: Runtime, event_filter: EventFilter, *, resume_from: int | None,
                 full: bool, snapshots: bool = True) -> None:
        self._rt = rt
        self._filter = event_filter
        self._resume_from = resume_from
        self._full = full
        self._client: StreamClient | None = None
        self._cursor = 0
        self._interval = rt.settings.stream.snapshot_interval_sec
        self._next_snapshot = 0.0  # the first read sends snapshots at once
        self._snapshots = snapshots  # a chat session's stream carries only its own events
        self._ended = False

    async def _open(self) -> tuple[StreamClient, list[StreamItem]]:
        hub = self._rt.stream
        client = hub.connect(self._filter)  # before the replay is read, so nothing falls between
        self._client = client
        if self._resume_from is None:
            self._cursor = hub.last_seq
            return client, []
        self._cursor = self._resume_from
        return client, await hub.replay(client, self._resume_from)

    def close(self) -> None:
        """Unregister the client (the generator's close runs this on disconnect)."""
        self._ended = True
        if self._client is not None:
            self._client.close()

    def end(self) -> None:
        """End the stream from the server's side (its key was revoked)."""
        self.close()

    def _messages(self, items: list[StreamItem]) -> list[sse.SseMessage]:
        out = []
        for item in items:
            if isinstance(item, Lagged):
                out.append(sse.SseMessage(STREAM_LAGGED, {"lost": item.lost, "reason": item.reason},
                                          self._cursor))
            else:
                self._cursor = item.seq or self._cursor  # announced events have no seq
                out.append(self._event(item))
        return out

    def _event(self, event: Event) -> sse.SseMessage:
        return sse.SseMessage(EVENT_PROCESSED, event.to_json(include_payload=self._full),
                              event.seq or self._cursor)

    async def produce(self, timeout: float) -> list[sse.SseMessage] | None:
        """Replay first, then live events; snapshots when due; None once the hub closed us."""
        loop = asyncio.get_running_loop()
        messages: list[sse.SseMessage] = []
        client = self._client
        if self._ended:
            return None
        if client is None:
            try:
                client, backlog = await self._open()
            except AmanError as exc:  # stopping, or the store failed: end; the client retries
                log.warning("event stream ended before it started: %s", exc)
                return None
            messages = self._messages(backlog)
        elif not self._snapshots:
            await client.wait(timeout)
        elif loop.time() < self._next_snapshot:
            await client.wait(min(timeout, self._next_snapshot - loop.time()))
        messages.extend(self._messages(client.take()))
        if not messages and client.closed:
            return None
        if self._snapshots and loop.time() >= self._next_snapshot:
            messages.extend(_snapshots(self._rt, self._cursor))
            self._next_snapshot = loop.time() + self._interval
        client.record_sent(len(messages))
        return messages


@bp.get("/events/stream")
@policy(public=True)
@text_response("text/event-stream", "Server-sent events until the client leaves.")
@validate_query(StreamQuery)
async def stream(query: StreamQuery) -> Response:
    """SSE: dispatched events (filtered by ?types= and ?sources=) and periodic snapshots."""
    rt = runtime()
    settings = rt.settings
    principal = stream_principal(request, rt.keys, query.token)
    event_filter = EventFilter(event_types=_split(query.types, "types"),
                               sources=_split(query.sources, "sources"))
    resume_from = last_event_id(request)
    if not rt.stream.attached:
        raise NotReadyError("the event stream is not running (runtime not ready)")
    session = StreamSession(rt, event_filter, resume_from=resume_from, full=principal is not None)
    unwatch = end_on_revoke(rt.keys, principal, session)

    def closed() -> None:
        unwatch()
        session.close()

    body = sse.pump(session.produce, heartbeat_sec=settings.stream.heartbeat_sec,
                    on_close=closed)
    response = Response(body, mimetype=sse.MIMETYPE, headers=sse.HEADERS)
    response.timeout = None  # a stream lasts as long as the client stays
    return response
