"""The OpenAI-compatible API: ``GET /v1/models`` and ``POST /v1/chat/completions``.

Same token as the rest of the API (``Authorization: Bearer``). Errors use OpenAI's body (see
``aman.http.errors``). The first item of the provider's stream is awaited before answering, so a
provider that cannot start (not configured, down) is an HTTP error rather than a broken stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from quart import Blueprint, Response, jsonify, request

from aman.chat import openai_api as oa
from aman.http.auth import current_principal, require_agent
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.validation import validate_body
from aman.llm.provider import Delta, Done, LLMError, StreamItem

bp = Blueprint("openai_compat", __name__)

SESSION_HEADER = "x-aman-session-id"


@bp.get("/v1/models")
@policy(scopes=("chat",))
async def list_models() -> Response:
    """Each enabled agent the key may reach is a model."""
    rt = runtime()
    created = int(rt.clock.now_ms() // 1000)
    principal = current_principal()
    items = [oa.model_entry(a["descriptor"]["agent_id"], created) for a in rt.agents.listing()
             if a["descriptor"]["enabled"]
             and principal.may_use_agent(a["descriptor"]["agent_id"])]
    return jsonify({"object": "list", "data": items})


@bp.post("/v1/chat/completions")
@policy(action="chat.completion", target="agent", audit=False, scopes=("chat",))
@validate_body(oa.ChatCompletionRequest)
async def chat_completions(body: oa.ChatCompletionRequest) -> Response:
    """A reply from the agent named by ``model``, streamed (``stream: true``) or whole."""
    rt = runtime()
    require_agent(oa.agent_id_of(body.model))
    agent = rt.agents.for_chat(oa.agent_id_of(body.model))
    settings = agent.settings
    completion_request = oa.to_request(
        body, system_prompt=rt.soul.system_prompt(
            agent.soul, allowed_skills=agent.allowed_skills), model=agent.model,
        max_output_tokens=settings.max_output_tokens, temperature=settings.temperature)
    context: dict[str, object] = {"agent_id": agent.agent_id, "via": "openai_compat"}
    session_id = request.headers.get(SESSION_HEADER)
    if session_id:
        await rt.chat.session(session_id)  # 404 session_not_found before anything is generated
    stream = aiter(rt.llm.stream(agent.provider, completion_request, context=context))
    first = await anext(stream)  # errors before the first item become HTTP errors
    cid = oa.completion_id()
    if body.stream:
        events = _sse(stream, first, cid, body, agent.agent_id, session_id)
        response = Response(events, mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache"})
        response.timeout = None
        return response
    text, done = await _collect(stream, first)
    await _record(session_id, body, text, agent.agent_id)
    return jsonify(oa.completion(cid, body.model, text, done))


async def _collect(stream: AsyncIterator[StreamItem], first: StreamItem) -> tuple[str, Done]:
    parts: list[str] = []
    item: StreamItem | None = first
    while item is not None:
        if isinstance(item, Done):
            return "".join(parts), item
        if isinstance(item, Delta):  # no tools are offered here, so no ToolCall arrives
            parts.append(item.text)
        item = await anext(stream, None)
    return "".join(parts), Done()


async def _sse(stream: AsyncIterator[StreamItem], first: StreamItem, cid: str,
               body: oa.ChatCompletionRequest, agent_id: str,
               session_id: str | None) -> AsyncIterator[bytes]:
    model = body.model
    yield _data(oa.chunk(cid, model, delta={"role": "assistant", "content": ""}))
    parts: list[str] = []
    done = Done()
    item: StreamItem | None = first
    try:
        while item is not None:
            if isinstance(item, Delta):
                parts.append(item.text)
                yield _data(oa.chunk(cid, model, delta={"content": item.text}))
            elif isinstance(item, Done):  # no tools are offered here, so no ToolCall arrives
                done = item
            item = await anext(stream, None)
    except LLMError as exc:  # mid-stream: OpenAI clients read an error object in the stream
        yield _data({"error": {"message": exc.message, "type": "server_error",
                               "code": exc.code, "param": None}})
        yield b"data: [DONE]\n\n"
        return
    yield _data(oa.chunk(cid, model, delta={}, finish_reason=done.finish_reason))
    if body.include_usage:
        yield _data(oa.usage_chunk(cid, model, done.usage))
    yield b"data: [DONE]\n\n"
    await _record(session_id, body, "".join(parts), agent_id)


async def _record(session_id: str | None, body: oa.ChatCompletionRequest, reply: str,
                  agent_id: str) -> None:
    """With ``x-aman-session-id``, append the exchange to that chat session."""
    if session_id:
        await runtime().chat.append_exchange(session_id, body.last_user_text(), reply,
                                             agent_id=agent_id)


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()
