"""Cron jobs: list, one job, its runs, add, update, remove and run now.

Changes are audited (``cron.add``, ``cron.update``, ``cron.remove``, ``cron.run``) with the
job's old and new definitions. A bad expression answers 400 ``invalid_cron_expression``, a bad
zone 400 ``invalid_timezone``, a taken id 409 ``cron_job_exists``, an unknown id 404
``cron_job_not_found``; nothing is stored in any of those cases.
"""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, g, jsonify

from aman.cron.model import CronJobChanges, CronJobSpec
from aman.cron.service import KEEP_RUNS
from aman.errors import InvalidCursorError
from aman.http.context import runtime
from aman.http.pagination import decode_cursor, encode_cursor
from aman.http.policy import policy
from aman.http.schemas import ErrorBody, JsonObject, QueryModel
from aman.http.validation import responds, validate_body, validate_query

bp = Blueprint("cron", __name__)


class CronRunsQuery(QueryModel):
    """Paging of GET /cron/{id}/runs (newest first)."""

    limit: int = Field(50, ge=1, le=KEEP_RUNS, description=f"Runs per page (1-{KEEP_RUNS}).")
    cursor: str | None = Field(None, description="next_cursor from the previous page.")


@bp.get("/cron")
@policy()
async def list_jobs() -> Response:
    """Every cron job with ``next_run_at``, ``last_run_at`` (epoch ms) and ``last_outcome``."""
    return jsonify({"items": runtime().cron.listing()})


@bp.get("/cron/<job_id>")
@policy()
async def get_job(job_id: str) -> Response:
    """One cron job."""
    return jsonify(runtime().cron.snapshot(job_id))


@bp.get("/cron/<job_id>/runs")
@policy()
@validate_query(CronRunsQuery)
async def list_runs(job_id: str, query: CronRunsQuery) -> Response:
    """A job's recent runs, newest first, with cursor pagination."""
    before = None
    if query.cursor:
        position = decode_cursor(query.cursor, required=("seq",))
        if not isinstance(position["seq"], int):
            raise InvalidCursorError(f"cursor {query.cursor[:40]!r} was not issued by this route")
        before = position["seq"]
    runs = await runtime().cron.runs(job_id, limit=query.limit + 1, before_seq=before)
    page = runs[:query.limit]
    more = len(runs) > query.limit
    return jsonify({"items": [run.to_json() for run in page],
                    "next_cursor": encode_cursor({"seq": page[-1].seq}) if more else None})


@bp.post("/cron/add")
@policy(action="cron.add", target="cron")
@responds(JsonObject, 201)
@validate_body(CronJobSpec)
async def add(body: CronJobSpec) -> Response:
    """Add a job: ``{id, expression, timezone?, event_type?, payload?, priority?, enabled?,
    catch_up?}``; 201 with the job."""
    service = runtime().cron
    job = await service.add(body)
    g.audit_detail = {"job_id": job.id, "old": None, "new": job.definition()}
    response = jsonify(service.snapshot(job.id))
    response.status_code = 201
    return response


@bp.post("/cron/<job_id>/update")
@policy(action="cron.update", target="cron:{job_id}")
@validate_body(CronJobChanges)
async def update(job_id: str, body: CronJobChanges) -> Response:
    """Change some fields of a job; returns the job."""
    service = runtime().cron
    old, new = await service.update(job_id, body)
    g.audit_detail = {"job_id": job_id, "old": old.definition(), "new": new.definition()}
    return jsonify(service.snapshot(job_id))


@bp.post("/cron/<job_id>/remove")
@policy(action="cron.remove", target="cron:{job_id}")
async def remove(job_id: str) -> Response:
    """Delete a job and its runs; returns ``{ok, removed}`` with what it was."""
    old = await runtime().cron.remove(job_id)
    g.audit_detail = {"job_id": job_id, "old": old.definition(), "new": None}
    return jsonify({"ok": True, "removed": old.to_json(None)})


@bp.post("/cron/<job_id>/run")
@policy(action="cron.run", target="cron:{job_id}")
@responds(ErrorBody, 404)
async def run_now(job_id: str) -> Response:
    """Fire the job once now, enabled or not; its timing is unchanged. Returns ``{ok, run}``."""
    service = runtime().cron
    run = await service.run_now(job_id)
    g.audit_detail = {"job_id": job_id, "event_id": run.event_id, "outcome": run.outcome.value}
    stored = [r for r in await service.runs(job_id, limit=5) if r.event_id == run.event_id]
    return jsonify({"ok": True, "run": (stored[0] if stored else run).to_json()})
