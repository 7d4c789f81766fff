"""Event intake and inspection: push, inject, trace, dump, recent, types."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BeforeValidator, Field, field_validator
from quart import Blueprint, Response, jsonify, request

from aman.errors import DebugDisabledError, NotFoundError
from aman.events.model import Delivery, Event, Priority
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, JsonObject, QueryModel, not_a_bool
from aman.http.validation import responds, validate_body, validate_query

bp = Blueprint("events", __name__)

#: Most events /events/recent returns in one call (the contract's limit).
MAX_RECENT = 1000


class PushEventRequest(BodyModel):
    """An event from outside (IM adapters, webhooks, scripts)."""

    source: str = Field(min_length=1, max_length=200, description="Producer, 'kind:name'.")
    event_type: str = Field(min_length=1, max_length=200,
                            validation_alias=AliasChoices("event_type", "type"))
    payload: dict[str, Any] = Field(default_factory=dict)
    agent_id: str | None = Field(None, max_length=200)
    priority: Priority = Priority.NORMAL
    delivery: Delivery = Delivery.AT_LEAST_ONCE
    ttl_ms: Annotated[int, Field(ge=1), BeforeValidator(not_a_bool)] | None = Field(
        None, description="Not delivered after this many ms.")
    dedup_key: str | None = Field(None, min_length=1, max_length=512)
    max_retries: Annotated[int, Field(ge=0, le=100), BeforeValidator(not_a_bool)] | None = None
    trace_id: str | None = Field(None, min_length=1, max_length=100, description="Join a trace.")
    parent_event_id: str | None = Field(None, min_length=1, max_length=100)

    @field_validator("source", "event_type")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


def _to_event(body: PushEventRequest, dedup_header: str | None) -> Event:
    rt = runtime()
    return Event.create(
        source=body.source,
        event_type=body.event_type,
        payload=body.payload,
        priority=body.priority,
        delivery=body.delivery,
        dedup_key=body.dedup_key or dedup_header,
        agent_id=body.agent_id,
        trace_id=body.trace_id,
        parent_event_id=body.parent_event_id,
        max_retries=body.max_retries,
        ttl_ms=body.ttl_ms,
        now_ms=rt.clock.now_ms(),
    )


async def _publish(event: Event, *, internal: bool) -> Response:
    rt = runtime()
    result = await rt.bus.publish(event, internal=internal)
    if result.duplicate:
        original = await rt.event_log.get(result.event.id)
        trace_id = original["event"]["metadata"]["trace_id"] if original else None
        return jsonify({"id": result.event.id, "trace_id": trace_id, "duplicate": True})
    body: dict[str, Any] = {"id": result.event.id, "trace_id": result.event.trace_id,
                            "duplicate": False, "seq": result.event.seq}
    if result.dropped:
        body["dropped"] = result.dropped
    response = jsonify(body)
    response.status_code = 202
    return response


@bp.post("/events/push")
@policy(action="event.push", target="event", audit=False, scopes=("events:push", "operate"))
@responds(JsonObject, 200)
@responds(JsonObject, 202)
@validate_body(PushEventRequest)
async def push(body: PushEventRequest) -> Response:
    """Accept an event: 202 once durable (guaranteed delivery); 200 duplicate for a repeated key."""
    return await _publish(_to_event(body, request.headers.get("Idempotency-Key")), internal=False)


@bp.post("/inject-event")
@policy(action="event.inject", target="event")
@responds(JsonObject, 200)
@responds(JsonObject, 202)
@validate_body(PushEventRequest)
async def inject(body: PushEventRequest) -> Response:
    """Debug: publish bypassing rate limits and backpressure.

    Only when ``runtime.force_enable_debug_endpoints`` is on.
    """
    if not runtime().settings.runtime.force_enable_debug_endpoints:
        raise DebugDisabledError(
            "POST /inject-event is a debug endpoint and debug endpoints are off")
    return await _publish(_to_event(body, request.headers.get("Idempotency-Key")), internal=True)


@bp.get("/events/trace/<trace_id>")
@policy()
async def trace(trace_id: str) -> Response:
    """Every event of a trace and every step of their lives, in order; flags a parent cycle."""
    rt = runtime()
    events, steps = await rt.event_log.trace(trace_id)
    if not events:
        raise NotFoundError(f"no events with trace id {trace_id!r}",
                            hint="Use the trace_id returned by POST /events/push.")
    body: dict[str, Any] = {"trace_id": trace_id, "events": events, "steps": steps,
                            "cycle_detected": False}
    cycle = await _parent_cycle({e["id"]: e["metadata"]["parent_event_id"] for e in events})
    if cycle:
        body["cycle_detected"] = True
        body["cycle_path"] = cycle
    return jsonify(body)


async def _parent_cycle(parents: dict[str, str | None]) -> list[str] | None:
    """Follow parent links from each event; return the loop if one closes."""
    rt = runtime()
    for start in list(parents):
        path, seen = [start], {start}
        current = parents.get(start)
        while current is not None:
            if current in seen:
                return path[path.index(current):] + [current]
            path.append(current)
            seen.add(current)
            if current not in parents:
                parents.update(await rt.event_log.parents([current]))
            current = parents.get(current)
    return None


@bp.get("/events/dump/<event_id>")
@policy()
async def dump(event_id: str) -> Response:
    """One event with its status, trace steps and per-handler deliveries."""
    found = await runtime().event_log.get(event_id)
    if found is None:
        raise NotFoundError(f"no event {event_id!r}", hint="GET /events/recent lists recent ids.")
    return jsonify(found)


class RecentQuery(QueryModel):
    """Query of GET /events/recent."""

    limit: int = Field(50, ge=1, le=MAX_RECENT, description="How many, newest first (max 1000).")


@bp.get("/events/recent")
@policy()
@validate_query(RecentQuery)
async def recent(query: RecentQuery) -> Response:
    """The newest events first, with their status."""
    return jsonify({"items": await runtime().event_log.recent(query.limit)})


@bp.get("/events/types")
@policy()
async def event_types() -> Response:
    """Built-in types, types registered by components, and types seen on the bus."""
    return jsonify({"items": runtime().event_types.listing()})
