"""Workflows: definitions, instances, and the operator's retry and cancel."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.http import confirm
from aman.http.context import runtime
from aman.http.pagination import decode_cursor, encode_cursor
from aman.http.policy import policy
from aman.http.schemas import BodyModel, JsonObject, PageQuery
from aman.http.validation import responds, validate_body, validate_query

bp = Blueprint("workflows", __name__)


class CreateInstanceRequest(BodyModel):
    """Body of POST /workflow/{name}/create."""

    data: dict[str, Any] = Field(default_factory=dict, description="The instance's data.")


class InstanceListQuery(PageQuery):
    """Filters of GET /workflow-instances (exact names)."""

    workflow: str | None = Field(None, min_length=1, max_length=100)
    state: str | None = Field(None, min_length=1, max_length=100)


@bp.get("/workflows")
@policy()
async def list_workflows() -> Response:
    """Every definition file: name, description, states, status (loaded|invalid|shadowed), error."""
    return jsonify({"items": runtime().workflows.listing()})


@bp.post("/workflows/reload")
@policy(action="workflows.reload", target="workflows")
async def reload_workflows() -> Response:
    """Re-read the definition folders now (they are also watched)."""
    summary = await runtime().workflows.reload(reason="api")
    g.audit_detail = summary
    return jsonify({**summary, "items": runtime().workflows.listing()})


@bp.get("/workflow/<name>")
@policy()
async def get_workflow(name: str) -> Response:
    """The current definition, with its version number and content hash."""
    definition, digest, version = runtime().workflows.definition(name)
    return jsonify({**definition.to_json(), "version_number": version, "hash": digest})


@bp.post("/workflow/<name>/create")
@policy(action="workflow.create", target="workflow:{name}")
@responds(JsonObject, 201)
@validate_body(CreateInstanceRequest)
async def create_instance(name: str, body: CreateInstanceRequest) -> Response:
    """Start an instance in the initial state; 201 with the instance."""
    instance = await runtime().workflows.create(
        name, body.data, started_by=f"api:{confirm.operator(request)}")
    g.audit_detail = {"instance_id": instance.id}
    response = jsonify(instance.to_json())
    response.status_code = 201
    return response


@bp.get("/workflow-instances")
@policy()
@validate_query(InstanceListQuery)
async def list_instances(query: InstanceListQuery) -> Response:
    """Instances oldest first, filtered by workflow and state, one cursor page at a time."""
    after = decode_cursor(query.cursor, required=("id",))["id"] if query.cursor else None
    items, last = await runtime().workflows.page(workflow=query.workflow, state=query.state,
                                                 after=after, limit=query.limit)
    return jsonify({"items": [i.to_json() for i in items],
                    "next_cursor": encode_cursor({"id": last}) if last else None})


@bp.get("/workflow-instance/<instance_id>")
@policy()
async def get_instance(instance_id: str) -> Response:
    """One instance with its transition history."""
    instance = await runtime().workflows.get(instance_id)
    return jsonify(instance.to_json(with_history=True))


@bp.post("/workflow-instance/<instance_id>/retry")
@policy(confirm=True, action="workflow.retry", target="workflow-instance:{instance_id}")
async def retry_instance(instance_id: str) -> Response:
    """From the error state back to the last active state, replaying the failed event; 409
    ``invalid_transition`` when the instance is not in its error state or has no retries left."""
    before, result = await runtime().workflows.retry(instance_id,
                                                      operator=confirm.operator(request))
    g.audit_detail = {"from": before, "to": result.instance.state}
    return jsonify(result.to_json(before))


@bp.post("/workflow-instance/<instance_id>/cancel")
@policy(confirm=True, action="workflow.cancel", target="workflow-instance:{instance_id}")
async def cancel_instance(instance_id: str) -> Response:
    """A cancel transition, else the ``cancelled`` state; 409 ``invalid_transition`` otherwise."""
    before, result = await runtime().workflows.cancel(instance_id,
                                                       operator=confirm.operator(request))
    g.audit_detail = {"from": before, "to": result.instance.state}
    return jsonify(result.to_json(before))
