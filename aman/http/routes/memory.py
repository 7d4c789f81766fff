"""An agent's memory over HTTP: read it, change it (every change a version), restore one; and
search past chat messages. Changes by a person are audited with the operator's name."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, jsonify, request

from aman.errors import NotFoundError
from aman.http import confirm
from aman.http.auth import current_principal, require_agent
from aman.http.context import runtime
from aman.http.openapi import path_values
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody, QueryModel
from aman.http.validation import responds, validate_body, validate_query
from aman.memory.model import FILES

bp = Blueprint("memory", __name__)
#: The memory files a path may name (anything else is 400 unknown_memory_file).
FILE_TARGETS = tuple(FILES)


class PutMemoryRequest(BodyModel):
    """Body of PUT /agents/{id}/memory/{memory|user}."""

    content: str = Field(max_length=400_000, description="The whole file; entries split on §.")
    expected_version: int | None = Field(None, ge=0,
                                         description="The version this edit is based on.")
    reason: str = Field("edited over the API", max_length=500)


class AddEntryRequest(BodyModel):
    """Body of POST /agents/{id}/memory/{memory|user}/entries."""

    content: str = Field(min_length=1, max_length=20_000)
    expected_version: int | None = Field(None, ge=0)
    reason: str = Field("entry added over the API", max_length=500)


class VersionQuery(QueryModel):
    """The version a change is based on (optional)."""

    expected_version: int | None = Field(None, ge=0)


class SearchQuery(QueryModel):
    """Query of GET /chat/search."""

    q: str = Field(min_length=1, max_length=500, description="Words to find.")
    agent_id: str | None = Field(None, max_length=100, description="Only this agent's sessions.")
    limit: int = Field(20, ge=1, le=200)


def _operator() -> str:
    return confirm.operator(request)


@bp.get("/agents/<agent_id>/memory")
@policy()
@responds(ErrorBody, 404)
async def get_memory(agent_id: str) -> Response:
    """Both files with entries (flagged ones marked), usage and version; imported sources."""
    require_agent(agent_id)
    return jsonify(await runtime().memory.overview(agent_id))


@bp.put("/agents/<agent_id>/memory/<target>")
@path_values(target=FILE_TARGETS)
@policy(confirm=True, action="memory.put", target="memory:{agent_id}/{target}")
@responds(ErrorBody, 404)
@validate_body(PutMemoryRequest)
async def put_memory(agent_id: str, target: str, body: PutMemoryRequest) -> Response:
    """Replace a whole file (validated, over the limit refused; 409 ``version_conflict``)."""
    require_agent(agent_id)
    found = await runtime().memory.replace(agent_id, target, body.content, author=_operator(),
                                           reason=body.reason,
                                           expected_version=body.expected_version)
    return jsonify(found.to_json())


@bp.post("/agents/<agent_id>/memory/<target>/entries")
@path_values(target=FILE_TARGETS)
@policy(action="memory.entry.add", target="memory:{agent_id}/{target}")
@responds(ErrorBody, 404)
@validate_body(AddEntryRequest)
async def add_entry(agent_id: str, target: str, body: AddEntryRequest) -> Response:
    """Add one entry; 201 with the file."""
    require_agent(agent_id)
    found = await runtime().memory.change(
        agent_id, target, [{"action": "add", "content": body.content}], author=_operator(),
        reason=body.reason, expected_version=body.expected_version)
    response = jsonify(found.to_json())
    response.status_code = 201
    return response


@bp.delete("/agents/<agent_id>/memory/<target>/entries/<int:index>")
@path_values(target=FILE_TARGETS)
@policy(confirm=True, action="memory.entry.delete", target="memory:{agent_id}/{target}")
@responds(ErrorBody, 404)
@validate_query(VersionQuery)
async def delete_entry(agent_id: str, target: str, index: int, query: VersionQuery) -> Response:
    """Remove entry ``index`` (as listed by GET .../memory)."""
    require_agent(agent_id)
    memory = runtime().memory
    current = await memory.file(agent_id, target)
    if index >= len(current.entries):
        raise NotFoundError(f"{target} of {agent_id} has {len(current.entries)} entries; "
                            f"there is no entry {index}", code="entry_not_found",
                            hint=f"GET /agents/{agent_id}/memory lists them with their index.")
    remaining = [e for i, e in enumerate(current.entries) if i != index]
    found = await memory.replace(agent_id, target, "\n§\n".join(remaining), author=_operator(),
                                 reason=f"entry {index} deleted over the API",
                                 expected_version=query.expected_version
                                 if query.expected_version is not None else current.version)
    return jsonify(found.to_json())


@bp.get("/agents/<agent_id>/memory/<target>/versions")
@path_values(target=FILE_TARGETS)
@policy()
@responds(ErrorBody, 404)
async def memory_versions(agent_id: str, target: str) -> Response:
    """Every version, newest first, with who made it and why."""
    require_agent(agent_id)
    versions = await runtime().memory.versions(agent_id, target)
    return jsonify({"items": [v.to_json() for v in versions]})


@bp.post("/agents/<agent_id>/memory/<target>/versions/<int:version>/restore")
@path_values(target=FILE_TARGETS)
@policy(confirm=True, action="memory.restore", target="memory:{agent_id}/{target}")
@responds(ErrorBody, 404)
async def restore_version(agent_id: str, target: str, version: int) -> Response:
    """Bring an earlier version back (as a new version)."""
    require_agent(agent_id)
    found = await runtime().memory.restore(agent_id, target, version, author=_operator())
    return jsonify(found.to_json())


@bp.get("/chat/search")
@policy(scopes=("chat", "read"))
@validate_query(SearchQuery)
async def chat_search(query: SearchQuery) -> Response:
    """Finished chat messages matching ``q``, best first (BM25), with their session and time."""
    principal = current_principal()
    if query.agent_id is not None:
        require_agent(query.agent_id)
    hits = await runtime().memory.search_messages(query.q, query.limit, agent_id=query.agent_id)
    hits = [h for h in hits if principal.may_use_agent(str(h["agent_id"]))]
    return jsonify({"items": [{k: v for k, v in h.items() if k != "score"} for h in hits]})
