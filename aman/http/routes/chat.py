"""Chat sessions: the contract's ten routes plus the per-session event stream."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.chat.model import Receipt
from aman.errors import NotReadyError
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.http import confirm, sse
from aman.http.auth import current_principal, require_agent
from aman.http.context import runtime
from aman.http.openapi import text_response
from aman.http.pagination import decode_cursor, encode_cursor
from aman.http.policy import policy
from aman.http.routes.stream import StreamSession, end_on_revoke, last_event_id
from aman.http.schemas import BodyModel, JsonObject, PageQuery
from aman.http.validation import responds, validate_body, validate_query

bp = Blueprint("chat", __name__)

#: Longest message accepted (characters); http.max_body_bytes bounds the body as a whole.
MAX_TEXT = 100_000


class SessionListQuery(PageQuery):
    """Query of GET /chat/sessions."""

    agent_id: str | None = Field(None, min_length=1, max_length=100)


class HistoryQuery(PageQuery):
    """Query of GET /chat/session/{id}/history."""

    all: bool = Field(False, description="Include superseded messages (edited or regenerated).")


class CreateSessionRequest(BodyModel):
    """Body of POST /chat/session/create."""

    session_type: Literal["persistent", "background"] = "persistent"
    agent_id: str | None = Field(None, min_length=1, max_length=100,
                                 description="Agent to talk to; default: the default agent.")
    title: str = Field("", max_length=200)


class SendRequest(BodyModel):
    """Body of POST /chat/session/{id}/send."""

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    expected_version: int | None = Field(None, ge=0)
    wait: bool = Field(False, description="Answer with the finished reply (200), or 202 after "
                                          "chat.wait_timeout_sec.")


class EditRequest(BodyModel):
    """Body of POST /chat/session/{id}/edit."""

    message_id: str = Field(min_length=1, max_length=100)
    new_text: str = Field(min_length=1, max_length=MAX_TEXT)
    expected_version: int | None = Field(None, ge=0)
    wait: bool = False


class CloseRequest(BodyModel):
    """Body of POST /chat/session/{id}/close."""

    reason: str | None = Field(None, max_length=500)


async def _reachable(session_id: str) -> None:
    """403 when the key's agent limit excludes the session's agent (no look-up without one)."""
    if current_principal().agents is not None:
        require_agent((await runtime().chat.session(session_id))["agent_id"])


@bp.get("/chat/sessions")
@policy(scopes=("chat", "read"))
@validate_query(SessionListQuery)
async def list_sessions(query: SessionListQuery) -> Response:
    """Sessions, most recently active first, one cursor page at a time."""
    after = None
    if query.cursor:
        position = decode_cursor(query.cursor, required=("at", "id"))
        after = (int(position["at"]), str(position["id"]))
    principal = current_principal()
    if query.agent_id is not None:
        require_agent(query.agent_id)
    items, nxt = await runtime().chat.listing(agent_id=query.agent_id, after=after,
                                              limit=query.limit)
    if principal.agents is not None:
        items = [item for item in items if principal.may_use_agent(item["agent_id"])]
    return jsonify({"items": items,
                    "next_cursor": encode_cursor({"at": nxt[0], "id": nxt[1]}) if nxt else None})


@bp.post("/chat/session/create")
@policy(action="chat.session.create", target="chat_sessions", scopes=("chat",))
@responds(JsonObject, 201)
@validate_body(CreateSessionRequest)
async def create_session(body: CreateSessionRequest) -> Response:
    """A new session (unknown or disabled agent: 400 agent_unavailable); 201."""
    if body.agent_id is not None:
        require_agent(body.agent_id)
    session = await runtime().chat.create(agent_id=body.agent_id, session_type=body.session_type,
                                          title=body.title, operator=confirm.operator(request))
    g.audit_detail = {"session_id": session["id"], "agent_id": session["agent_id"]}
    response = jsonify(session)
    response.status_code = 201
    return response


@bp.get("/chat/session/<session_id>/state")
@policy(scopes=("chat", "read"))
async def session_state(session_id: str) -> Response:
    """The session, its state and version, and its visible messages."""
    await _reachable(session_id)
    return jsonify(await runtime().chat.state(session_id))


@bp.get("/chat/session/<session_id>/history")
@policy(scopes=("chat", "read"))
@validate_query(HistoryQuery)
async def session_history(session_id: str, query: HistoryQuery) -> Response:
    """Messages oldest first (``?all=true`` adds superseded ones), one cursor page at a time."""
    await _reachable(session_id)
    after = int(decode_cursor(query.cursor, required=("seq",))["seq"]) if query.cursor else 0
    items, nxt = await runtime().chat.history(session_id, include_superseded=query.all,
                                              after_seq=after, limit=query.limit)
    return jsonify({"items": items,
                    "next_cursor": encode_cursor({"seq": nxt}) if nxt is not None else None})


async def _answer(receipt: Receipt, wait: bool) -> Response:
    """202 with the receipt; with ``wait`` the finished reply (200) if it comes in time."""
    g.audit_detail = receipt.audit
    body = receipt.to_json()
    if wait:
        timeout = runtime().settings.chat.wait_timeout_sec
        try:
            reply = await asyncio.wait_for(asyncio.shield(receipt.reply), timeout)
        except TimeoutError:
            reply = None
        if reply is not None:
            return jsonify({**body, "reply": reply.to_json()})
    response = jsonify(body)
    response.status_code = 202
    return response


@bp.post("/chat/session/<session_id>/send")
@policy(action="chat.session.send", target="chat_session:{session_id}", scopes=("chat",))
@responds(JsonObject, 200)
@responds(JsonObject, 202)
@validate_body(SendRequest)
async def send(session_id: str, body: SendRequest) -> Response:
    """Store a message and queue its reply: 202 ``{ok, event_id, message_id, version}``."""
    await _reachable(session_id)
    receipt = await runtime().chat.send(session_id, body.text,
                                        expected_version=body.expected_version,
                                        operator=confirm.operator(request))
    return await _answer(receipt, body.wait)


@bp.post("/chat/session/<session_id>/edit")
@policy(action="chat.session.edit", target="chat_session:{session_id}", scopes=("chat",))
@responds(JsonObject, 200)
@responds(JsonObject, 202)
@validate_body(EditRequest)
async def edit(session_id: str, body: EditRequest) -> Response:
    """Replace a user message; what followed it is superseded and a new reply generated."""
    await _reachable(session_id)
    receipt = await runtime().chat.edit(session_id, body.message_id, body.new_text,
                                        expected_version=body.expected_version,
                                        operator=confirm.operator(request))
    return await _answer(receipt, body.wait)


@bp.post("/chat/session/<session_id>/retry")
@policy(action="chat.session.retry", target="chat_session:{session_id}", scopes=("chat",))
async def retry(session_id: str) -> Response:
    """Regenerate the last reply (from error or idle); the old one is kept as superseded."""
    await _reachable(session_id)
    result = await runtime().chat.retry(session_id)
    g.audit_detail = {"replaces": result["replaces"]}
    return jsonify(result)


@bp.post("/chat/session/<session_id>/stop")
@policy(action="chat.session.stop", target="chat_session:{session_id}", scopes=("chat",))
async def stop(session_id: str) -> Response:
    """Stop the running reply (kept as interrupted) and drop waiting ones; back to idle."""
    await _reachable(session_id)
    result = await runtime().chat.stop_generation(session_id)
    g.audit_detail = {"stopped": result["stopped"], "dropped": result["dropped"]}
    return jsonify(result)


@bp.post("/chat/session/<session_id>/close")
@policy(action="chat.session.close", target="chat_session:{session_id}", scopes=("chat",))
@validate_body(CloseRequest)
async def close(session_id: str, body: CloseRequest) -> Response:
    """Close the session from any state but closed; it stays readable."""
    await _reachable(session_id)
    result = await runtime().chat.close(session_id, reason=body.reason,
                                        operator=confirm.operator(request))
    g.audit_detail = {"reason": body.reason}
    return jsonify(result)


@bp.delete("/chat/session/<session_id>")
@policy(action="chat.session.delete", target="chat_session:{session_id}", scopes=("chat",))
async def delete(session_id: str) -> Response:
    """Remove the session and its messages (audited)."""
    await _reachable(session_id)
    result = await runtime().chat.delete(session_id, operator=confirm.operator(request))
    g.audit_detail = {"messages": result["messages"]}
    return jsonify(result)


@dataclass(frozen=True)
class _SessionFilter(EventFilter):
    """A session's events: its payload's session_id, or its workflow instance's moves."""

    session_id: str = ""
    instance_id: str = ""

    def matches(self, event: Event) -> bool:
        payload: dict[str, Any] = event.payload
        return payload.get("session_id") == self.session_id or (
            event.event_type == "workflow_state_changed"
            and payload.get("instance_id") == self.instance_id)


@bp.get("/chat/session/<session_id>/stream")
@policy(scopes=("chat", "read"))
@text_response("text/event-stream", "Server-sent events of the session until it ends.")
async def session_stream(session_id: str) -> Response:
    """SSE of this session's events only (reply chunks included), resumable with Last-Event-ID."""
    rt = runtime()
    state = await rt.chat.session(session_id)
    require_agent(state["agent_id"])
    resume_from = last_event_id(request)
    if not rt.stream.attached:
        raise NotReadyError("the event stream is not running (runtime not ready)")
    session = StreamSession(rt, _SessionFilter(session_id=session_id,
                                               instance_id=state["workflow_instance_id"]),
                            resume_from=resume_from, full=True, snapshots=False)
    unwatch = end_on_revoke(rt.keys, current_principal(), session)

    def closed() -> None:
        unwatch()
        session.close()

    body = sse.pump(session.produce, heartbeat_sec=rt.settings.stream.heartbeat_sec,
                    on_close=closed)
    response = Response(body, mimetype=sse.MIMETYPE, headers=sse.HEADERS)
    response.timeout = None  # a stream lasts as long as the client stays
    return response
