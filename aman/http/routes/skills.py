"""Skills: list, search, LLM-visible index, snapshot, raw content, enable/disable, versions,
rollback and reload."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from quart import Blueprint, Response, g, jsonify

from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, QueryModel
from aman.http.validation import validate_body, validate_query

bp = Blueprint("skills", __name__)


@bp.get("/skills")
@policy()
async def list_skills() -> Response:
    """Every skill found on disk (valid or not), sorted by name."""
    service = runtime().skills
    return jsonify({"items": service.listing(), "dirs": [str(d) for d in service.dirs]})


class SearchQuery(QueryModel):
    """GET /skills/search."""

    q: str = Field(min_length=1, max_length=500, description="Words to look for.")
    limit: int = Field(10, ge=1, le=100)

    @field_validator("q")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


@bp.get("/skills/search")
@policy()
@validate_query(SearchQuery)
async def search(query: SearchQuery) -> Response:
    """Ranked full-text search over name, description, tags and body."""
    items = await runtime().skills.search(query.q, query.limit)
    return jsonify({"items": items, "query": query.q})


@bp.get("/llm-skills")
@policy()
async def llm_skills() -> Response:
    """Enabled, valid skills the model may invoke: ``{name, description, category, triggers,
    path}``."""
    return jsonify({"items": runtime().skills.llm_visible()})


@bp.post("/skills/reload")
@policy(action="skills.reload", target="skills")
async def reload() -> Response:
    """Re-read every skill folder now; returns the counts."""
    counts = await runtime().skills.reload(reason="api")
    g.audit_detail = counts
    return jsonify(counts)


@bp.get("/skill/<name>")
@policy()
async def get_skill(name: str) -> Response:
    """One skill with metadata and body."""
    return jsonify(runtime().skills.snapshot(name))


@bp.get("/skill/<name>/content")
@policy()
async def content(name: str) -> Response:
    """The skill file's raw text as ``{name, path, content}``."""
    skill = runtime().skills.get(name)
    return jsonify({"name": name, "path": str(skill.path), "content": skill.content,
                    "hash": skill.content_hash})


@bp.post("/skill/<name>/enable")
@policy(action="skill.enable", target="skill:{name}")
async def enable(name: str) -> Response:
    """Switch a skill on (persisted)."""
    return jsonify(await runtime().skills.set_enabled(name, True))


@bp.post("/skill/<name>/disable")
@policy(action="skill.disable", target="skill:{name}")
async def disable(name: str) -> Response:
    """Switch a skill off (persisted)."""
    return jsonify(await runtime().skills.set_enabled(name, False))


@bp.get("/skill/<name>/versions")
@policy()
async def versions(name: str) -> Response:
    """Every distinct content seen, newest first."""
    return jsonify({"name": name, "items": await runtime().skills.versions(name)})


class RollbackRequest(BodyModel):
    """Body of POST /skill/{name}/rollback: a version string or a content hash."""

    version: str | None = Field(None, min_length=1, max_length=100)
    hash: str | None = Field(None, min_length=8, max_length=64, pattern="^[0-9a-f]+$")

    @model_validator(mode="after")
    def _one_of(self) -> RollbackRequest:
        if (self.version is None) == (self.hash is None):
            raise ValueError("give exactly one of version or hash")
        return self


@bp.post("/skill/<name>/rollback")
@policy(confirm=True, action="skill.rollback", target="skill:{name}")
@validate_body(RollbackRequest)
async def rollback(name: str, body: RollbackRequest) -> Response:
    """Write an earlier content back to the file atomically and reload."""
    result = await runtime().skills.rollback(name, version=body.version, hash_=body.hash)
    g.audit_detail = {"restored_hash": result["restored"]["hash"],
                      "previous_hash": result["previous_hash"]}
    return jsonify(result)
