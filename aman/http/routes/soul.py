"""The soul: info, raw content, update with history, the compiled system prompt."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.http import confirm
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, QueryModel
from aman.http.validation import validate_body, validate_query

bp = Blueprint("soul", __name__)


@bp.get("/soul/info")
@policy()
async def info() -> Response:
    """Name, file, last change (ms), boundaries count, sections, and a broken edit's error."""
    return jsonify(runtime().soul.info())


@bp.get("/soul/raw")
@policy()
async def raw() -> Response:
    """The soul's content in force, as JSON ``{name, path, content}``."""
    return jsonify(runtime().soul.raw())


class SoulUpdateRequest(BodyModel):
    """Body of POST /soul/update."""

    content: str = Field(min_length=1, description="The whole soul file: '# Name' then sections.")


@bp.post("/soul/update")
@policy(action="soul.update", target="soul")
@validate_body(SoulUpdateRequest)
async def update(body: SoulUpdateRequest) -> Response:
    """Validate, then write atomically, keep the previous version, audit and announce."""
    result = await runtime().soul.update(body.content, operator=confirm.operator(request),
                                         request_id=getattr(g, "request_id", None))
    if result["changed"]:
        g.audited = True  # the service wrote the record, with the content hashes
    return jsonify(result)


@bp.get("/soul/system-prompt")
@policy()
async def system_prompt() -> Response:
    """The compiled system prompt."""
    compiled = runtime().soul.compiled_prompt()
    return jsonify({"prompt": compiled.prompt, "soul": compiled.soul,
                    "skills_count": compiled.skills_count})


class VersionsQuery(QueryModel):
    """Query of GET /soul/versions."""

    limit: int = Field(50, ge=1, le=500, description="Versions to list, newest first.")
    content: bool = Field(False, description="Include each version's content.")


@bp.get("/soul/versions")
@policy()
@validate_query(VersionsQuery)
async def versions(query: VersionsQuery) -> Response:
    """The soul's version history, newest first."""
    soul = runtime().soul
    items = await soul.versions(query.limit)
    return jsonify({"soul": soul.active,
                    "items": [v.to_json(with_content=query.content) for v in items]})
