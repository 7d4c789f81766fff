"""Event sources: list them, pause, resume and reconfigure one (also under the /source/ aliases)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field
from quart import Blueprint, Response, g, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import ResponseModel
from aman.http.validation import read_json_object, responds

bp = Blueprint("sources", __name__)


class SourceView(ResponseModel):
    """One source as the routes show it."""

    id: str
    type: str = Field(description="timer, file_watch, or a plugin's type.")
    state: str = Field(description=("running, paused, stopped or failed; an IM channel pulling its "
                                    "messages: connecting, polling, connected or backing_off."))
    health: dict[str, Any] = Field(description="status ok|degraded|failed, detail and counters.")
    config: dict[str, Any] = Field(description="The configuration in force.")


class SourceList(ResponseModel):
    """Body of GET /event-sources."""

    items: list[SourceView]


@bp.get("/event-sources")
@policy()
@responds(SourceList)
async def list_sources() -> Response:
    """Every source with its type, state, health and configuration, in start order."""
    return jsonify({"items": runtime().sources.describe_all()})


async def _change_state(
    source_id: str, change: Callable[[str], Awaitable[dict[str, Any]]]
) -> Response:
    """Pause or resume, recording the state before and after for the audit record."""
    before = runtime().sources.describe(source_id)["state"]
    view = await change(source_id)
    g.audit_detail = {"state_before": before, "state": view["state"]}
    return jsonify(view)


# The contract names each route twice, /event-source/... and /source/...: one view, two rules.


@bp.post("/event-source/<source_id>/pause")
@bp.post("/source/<source_id>/pause", endpoint="pause_alias")
@policy(action="source.pause", target="source:{source_id}")
@responds(SourceView)
async def pause(source_id: str) -> Response:
    """Stop emitting events until resumed; pausing a paused source is fine."""
    registry = runtime().sources
    return await _change_state(source_id, registry.pause)


@bp.post("/event-source/<source_id>/resume")
@bp.post("/source/<source_id>/resume", endpoint="resume_alias")
@policy(action="source.resume", target="source:{source_id}")
@responds(SourceView)
async def resume(source_id: str) -> Response:
    """Emit events again; resuming a running source is fine."""
    registry = runtime().sources
    return await _change_state(source_id, registry.resume)


@bp.put("/event-source/<source_id>/config")
@bp.put("/source/<source_id>/config", endpoint="configure_alias")
@policy(action="source.config", target="source:{source_id}")
@responds(SourceView)
async def configure(source_id: str) -> Response:
    """Change a source's configuration (fields merged over the current ones) and restart it.

    Validated per source type; a bad value is a 400 naming the field and changes nothing.
    """
    registry = runtime().sources
    before = registry.describe(source_id)["config"]
    body = await read_json_object()
    view = await registry.configure(source_id, body)
    g.audit_detail = {"before": before, "after": view["config"]}
    return jsonify(view)
