"""Scoped API keys: make one (its secret shown once), list them, revoke one.

Every route here needs the admin scope; making and revoking need ``x-aman-confirm: yes``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator
from quart import Blueprint, Response, g, jsonify

from aman.auth.model import SCOPES
from aman.config.auth import aware_time, key_name
from aman.http.context import runtime
from aman.http.policy import policy
from aman.http.schemas import BodyModel, ErrorBody, ResponseModel
from aman.http.validation import responds, validate_body

bp = Blueprint("keys", __name__)



class CreateKeyRequest(BodyModel):
    """Body of POST /auth/keys."""

    name: str = Field(min_length=1, max_length=64,
                      description="Unique name; the audit log shows it as the operator.")
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES),
                              description="Any of: " + ", ".join(SCOPES) + ".")
    agents: list[str] | None = Field(None, max_length=100,
                                     description="Agents its chat and memory may reach; "
                                                 "omit for every agent.")
    expires_at: datetime | None = Field(None, description="ISO 8601 time with a zone; omit for "
                                                          "a key that lasts until revoked.")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return key_name(value)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware_time(value)


class KeyEntry(ResponseModel):
    """One key as listed: never its secret or hash."""

    id: str
    name: str
    scopes: list[str]
    agents: list[str] | None
    prefix: str = Field(description="The first characters of the secret ('' for config keys).")
    origin: str = Field(description="'api' (made here) or 'config' (auth.keys).")
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    revoked_at: int | None


class CreatedKey(KeyEntry):
    """A new key with its secret: shown this once, stored only as a hash."""

    secret: str


class KeyList(ResponseModel):
    """GET /auth/keys."""

    items: list[KeyEntry]


@bp.post("/auth/keys")
@policy(confirm=True, action="auth.key.create", target="auth_keys", scopes=("admin",))
@responds(CreatedKey, 201)
@responds(ErrorBody, 409)
@validate_body(CreateKeyRequest)
async def create_key(body: CreateKeyRequest) -> Response:
    """Make a key; 201 with its secret, shown once (409 ``key_exists``)."""
    rt = runtime()
    expires = int(body.expires_at.timestamp() * 1000) if body.expires_at is not None else None
    key, secret = await rt.keys.create(name=body.name, scopes=body.scopes, agents=body.agents,
                                       expires_at_ms=expires)
    g.audit_detail = {"key_id": key.id, "name": key.name, "scopes": list(key.scopes)}
    out: dict[str, Any] = {**key.to_json(), "secret": secret}
    if not rt.keys.enforced:
        out["warning"] = ("http.token is not set, so authentication is off and keys are not "
                          "checked; set http.token to enforce them")
    response = jsonify(out)
    response.status_code = 201
    return response


@bp.get("/auth/keys")
@policy(scopes=("admin",))
@responds(KeyList)
async def list_keys() -> Response:
    """Every key (config ones first, revoked ones included), never a secret."""
    return jsonify({"items": [key.to_json() for key in runtime().keys.listing()]})


@bp.post("/auth/keys/<key_id>/revoke")
@policy(confirm=True, action="auth.key.revoke", target="auth_key:{key_id}", scopes=("admin",))
@responds(KeyEntry)
@responds(ErrorBody, 404)
@responds(ErrorBody, 409)
async def revoke_key(key_id: str) -> Response:
    """Revoke a key at once: its next request is 401 and its open streams end."""
    key = await runtime().keys.revoke(key_id)
    g.audit_detail = {"name": key.name}
    return jsonify(key.to_json())
