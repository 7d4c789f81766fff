"""Shared request and response models: the error body and the cursor page."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    """The inside of every error response."""

    model_config = ConfigDict(defer_build=True)

    code: str = Field(description="Stable snake_case code to branch on.")
    message: str = Field(description="What went wrong, with the values involved.")
    hint: str = Field(description="How to fix it.")
    request_id: str | None = Field(None, description="Also in the daemon log and x-request-id.")
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """Every 4xx and 5xx response."""

    model_config = ConfigDict(defer_build=True)

    error: ErrorDetail


class ResponseModel(BaseModel):
    """Base for documented response bodies: built when /openapi.json is first asked for."""

    model_config = ConfigDict(defer_build=True)


class QueryModel(BaseModel):
    """Base for query strings: unknown parameters are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


def not_a_bool(value: Any) -> Any:
    """Refuse ``true``/``false`` where a number is expected (pydantic reads them as 1/0)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not true or false")
    return value


class JsonObject(BaseModel):
    """A JSON object whose fields the route's docstring and docs describe."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class BodyModel(BaseModel):
    """Base for request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class PageQuery(QueryModel):
    """Cursor pagination parameters."""

    limit: int = Field(50, ge=1, le=1000, description="Items per page (1-1000).")
    cursor: str | None = Field(None, description="next_cursor from the previous page.")
