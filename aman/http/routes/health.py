"""Health probes: public, answering from phase 0 on."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from aman.http.context import runtime
from aman.http.errors import error_response
from aman.http.policy import policy

bp = Blueprint("health", __name__)


@bp.get("/health/live")
@policy(public=True, needs_runtime=False)
async def live() -> Response:
    """The process is up and serving HTTP (phase 0 or later)."""
    rt = runtime()
    return jsonify(
        {
            "status": "alive",
            "phase": int(rt.phases.phase),
            "phase_name": rt.phases.phase.label,
            "state": rt.state.value,
        }
    )


def _readiness() -> Response:
    rt = runtime()
    phases = rt.phases
    summary = {"phase": int(phases.phase), "phase_name": phases.phase.label, "state": rt.state.value}
    if rt.ready:
        return jsonify({"status": "ready", **summary})
    failure = phases.failure.to_json() if phases.failure else None
    message = f"the runtime is {rt.state.value} in phase {int(phases.phase)} ({phases.phase.label})"
    if failure:
        message += f"; boot failed at step {failure['step']}: {failure['error']}"
    return error_response(
        503,
        "not_ready",
        message,
        "Wait and retry; if state is 'failed' read /runtime/status, fix the cause and "
        "POST /agent/start; if 'stopped', POST /agent/start.",
        headers={"Retry-After": "1"},
        extra={**summary, "failure": failure},
    )


@bp.get("/health/ready")
@policy(public=True, needs_runtime=False)
async def ready() -> Response:
    """200 only in phase 5; 503 naming the phase otherwise (also while draining)."""
    return _readiness()


@bp.get("/health")
@policy(public=True, needs_runtime=False)
async def health() -> Response:
    """Alias of /health/ready."""
    return _readiness()


@bp.get("/health/llm")
@policy(public=True, needs_runtime=False)
async def llm() -> Response:
    """Whether an LLM provider is ready to answer."""
    rt = runtime()
    if not rt.settings.llm.default_provider:
        return error_response(
            503,
            "llm_not_configured",
            "no LLM provider is configured (llm.default_provider is empty)",
            "Configure a provider under llm in the config file.",
        )
    return error_response(
        503,
        "llm_unavailable",
        f"LLM provider {rt.settings.llm.default_provider!r} is not available in this build",
        "Provider support arrives with the chat issue; until then chat is unavailable.",
    )
