"""Health probes: public, answering from phase 0 on."""

from __future__ import annotations

from pydantic import Field
from quart import Blueprint, Response, jsonify

from aman.http.context import runtime
from aman.http.errors import error_response
from aman.http.policy import policy
from aman.http.schemas import ErrorBody, QueryModel
from aman.http.validation import responds, validate_query
from aman.llm.health import default_agent_provider
from aman.llm.provider import LLMNotConfiguredError

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
    summary = {"phase": int(phases.phase), "phase_name": phases.phase.label,
               "state": rt.state.value}
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


class LlmHealthQuery(QueryModel):
    """Query of GET /health/llm."""

    provider: str | None = Field(None, min_length=1, max_length=200,
                                 description="A provider under llm.providers; default: the "
                                             "default agent's.")


@bp.get("/health/llm")
@policy(public=True, needs_runtime=False)
@responds(ErrorBody, 404)
@validate_query(LlmHealthQuery)
async def llm(query: LlmHealthQuery) -> Response:
    """200 when ready and the default agent's provider (or ``?provider=``) answered its last
    probe; else 503 naming the provider and its last error."""
    rt = runtime()
    target = query.provider or default_agent_provider(rt.settings)
    if target is not None and target not in rt.settings.llm.providers:
        return error_response(
            404, "provider_not_found", f"no LLM provider named {target[:100]!r}",
            "Name one of llm.providers (docs/llm.md).")
    if target is None:
        return error_response(
            503, "llm_not_configured",
            "no LLM provider is configured (llm.default_provider is empty and the default agent "
            "names none)",
            "Configure a provider under llm.providers and set llm.default_provider (docs/llm.md), "
            "or install the offline model with pip install 'aman[local]' and use kind: local.")
    health = rt.llm.health(target)
    if rt.ready and health.last_probe_at_ms is None:
        health = await rt.llm.probe(target)  # none yet (just booted): ask now, once
    config = rt.settings.llm.providers[target]
    summary = {"provider": target, "kind": config.kind,
               "model": config.model or getattr(rt.llm.built(target), "model", None),
               **health.to_json()}
    error = health.last_error
    if not rt.ready:
        return error_response(
            503, "not_ready", f"the runtime is {rt.state.value}; LLM provider {target!r} is not "
            "in use yet", "Wait until GET /health/ready answers 200.",
            headers={"Retry-After": "1"}, extra=summary)
    if health.last_probe_ok:
        return jsonify({"status": "ok", **summary})
    if isinstance(error, LLMNotConfiguredError):
        return error_response(503, error.code, error.message, error.hint, extra=summary,
                              details={"provider": target})
    reason = error.message if error is not None else "no probe has completed"
    return error_response(
        503, "llm_unavailable", f"LLM provider {target!r} did not answer its last probe: {reason}",
        (error.hint if error is not None else "Retry in a moment."),
        headers={"Retry-After": str(max(1, int(rt.settings.llm.probe_interval_sec)))},
        extra=summary, details={"provider": target,
                                "last_error_code": error.code if error is not None else None})
