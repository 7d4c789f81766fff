"""Live configuration: ``POST /config/set``, ``GET /config/live-keys`` and the settings in force.

``GET /runtime/config`` (where things are, which switches are on) stays in ``routes/runtime.py``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from quart import Blueprint, Response, g, jsonify, request

from aman.config.effective import effective
from aman.http import confirm
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel
from aman.http.validation import validate_body

bp = Blueprint("config", __name__)


class ConfigSetRequest(BodyModel):
    """Body of POST /config/set."""

    changes: dict[str, Any] = Field(
        min_length=1,
        description='Dotted key → new value, e.g. {"event_bus.max_queue_size": 5000}; '
        "only keys listed by GET /config/live-keys.",
    )


@bp.post("/config/set")
@policy(confirm=True, action="config.set", target="config")
@validate_body(ConfigSetRequest)
async def set_config(body: ConfigSetRequest) -> Response:
    """Change live keys at once and keep them across restarts; all or nothing.

    400 ``unknown_config_key``, ``config_restart_required``, ``config_key_pinned`` or
    ``invalid_config_value`` naming the key; in every case nothing changes.
    """
    # A refused request is audited by the after-request hook with the keys it named.
    g.audit_detail = {"keys": sorted(body.changes)}
    applied = await runtime().config.set(body.changes, operator=confirm.operator(request),
                                         request_id=getattr(g, "request_id", None))
    g.audited = True  # the service wrote the record, with old and new values
    return jsonify(applied.to_json())


class ConfigUnsetRequest(BodyModel):
    """Body of POST /config/unset."""

    keys: list[str] = Field(min_length=1, description="Live keys set with POST /config/set.")


@bp.post("/config/unset")
@policy(confirm=True, action="config.unset", target="config")
@validate_body(ConfigUnsetRequest)
async def unset_config(body: ConfigUnsetRequest) -> Response:
    """Drop live changes: each key goes back to the config file's (or env, or default) value at
    once and stays so after restarts. 400 ``config_key_not_set`` naming keys never set live."""
    g.audit_detail = {"keys": sorted(body.keys)}
    applied = await runtime().config.unset(body.keys, operator=confirm.operator(request),
                                           request_id=getattr(g, "request_id", None))
    g.audited = True
    return jsonify(applied.to_json())


@bp.get("/config/live-keys")
@policy(needs_runtime=False)
async def live_keys() -> Response:
    """The keys POST /config/set accepts, their values in force (secrets as ***) and any pin."""
    service = runtime().config
    return jsonify({"keys": service.live_keys(), "override_file": str(service.override_path)})


@bp.get("/config/effective")
@policy(needs_runtime=False)
async def effective_config() -> Response:
    """Every setting in force (file, override file, environment, defaults); secrets as ***."""
    return jsonify({"settings": effective(runtime().settings)})
