"""Runtime control and introspection: status, config, integrity, start and shutdown."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.http import confirm
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel
from aman.http.validation import validate_body

bp = Blueprint("runtime", __name__)


@bp.get("/runtime/status")
@policy(needs_runtime=False)
async def status() -> Response:
    """Phase, readiness, state, per-phase timings, uptime, version and any boot failure."""
    return jsonify(runtime().status())


@bp.get("/runtime/config")
@policy(needs_runtime=False)
async def config() -> Response:
    """Where things are and which switches are on; never a secret."""
    settings = runtime().settings
    return jsonify(
        {
            "bind": settings.http.bind,
            "runtime_dir": str(settings.runtime.dir),
            "database": runtime().store.where,
            "store": runtime().store.kind,
            "skills_dirs": [str(p) for p in settings.skills_dirs],
            "souls_dirs": [str(p) for p in settings.souls_dirs],
            "plugins_dirs": [str(p) for p in settings.plugins_dirs],
            "workflows_dirs": [str(p) for p in settings.workflows_dirs],
            "token_configured": settings.token_configured,
            "debug_endpoints_enabled": settings.runtime.force_enable_debug_endpoints,
            "max_body_bytes": settings.http.max_body_bytes,
            "drain_timeout_sec": settings.runtime.drain_timeout_sec,
        }
    )


@bp.get("/runtime/integrity")
@policy()
async def integrity() -> Response:
    """SQLite's integrity check of the database, for ``aman doctor`` (which never opens it)."""
    check = getattr(runtime().db, "integrity_problems", None)
    if check is None:  # PostgreSQL checks its own pages; there is no file to walk
        return jsonify({"ok": True, "problems": [], "checked": False})
    problems: list[str] = await check()
    return jsonify({"ok": not problems, "problems": problems[:100], "checked": True})


@bp.post("/agent/start")
@policy(needs_runtime=False, action="agent.start", target="runtime")
async def start() -> Response:
    """Boot the runtime if it is not ready; idempotent."""
    rt = runtime()
    already = rt.ready
    await rt.start()
    g.audit_detail = {"already_running": already}
    return jsonify({"started": not already, **rt.status()})


class ShutdownRequest(BodyModel):
    """Optional body of POST /agent/shutdown."""

    reason: str | None = Field(None, max_length=500, description="Why; kept in the audit log.")


@bp.post("/agent/shutdown")
@policy(needs_runtime=False, confirm=True, action="agent.shutdown", target="runtime")
@validate_body(ShutdownRequest)
async def shutdown(body: ShutdownRequest) -> Response:
    """Drain and stop the runtime; the HTTP server stays up so /agent/start can bring it back."""
    rt = runtime()
    was = rt.state.value
    # Record before stopping: the audit log lives in storage, which the stop closes.
    if rt.audit.available:
        await rt.audit.record(
            "agent.shutdown",
            operator=confirm.operator(request),
            target="runtime",
            outcome="ok",
            detail={"from_state": was, "reason": body.reason},
            request_id=g.request_id,
        )
        g.audited = True
    await rt.stop()
    return jsonify({"stopped": was != "stopped", **rt.status()})
