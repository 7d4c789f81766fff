"""Request validation at the edge with pydantic, documented for OpenAPI through quart-schema.

quart-schema's own ``validate_request`` hides malformed JSON behind a generic 400; these
decorators parse the body themselves so every failure names the field path or the JSON position.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from pydantic import BaseModel
from quart import request
from quart_schema import document_querystring, document_request, document_response

from aman.http.schemas import ErrorBody
from aman.parsing import json_object, parse_model

F = TypeVar("F", bound=Callable[..., Any])
#: Set on a view whose JSON body has required fields (the OpenAPI document says so).
BODY_REQUIRED_ATTRIBUTE = "_aman_body_required"
M = TypeVar("M", bound=BaseModel)


async def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object; an empty body reads as ``{}``."""
    raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    if not raw.strip():
        return {}
    return json_object(raw)


def validate_body(model: type[BaseModel]) -> Callable[[F], F]:
    """Parse the JSON body into ``model`` and pass it as the ``body`` keyword."""

    def decorator(func: F) -> F:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            data = await read_json_object()
            return await func(*args, body=parse_model(model, data, prefix="body"), **kwargs)

        # An absent body reads as {}: the body is required only when a field is.
        setattr(wrapper, BODY_REQUIRED_ATTRIBUTE,
                any(field.is_required() for field in model.model_fields.values()))
        return document_request(model)(document_response(ErrorBody, 400)(wrapper))  # type: ignore[return-value]

    return decorator


def validate_query(model: type[BaseModel]) -> Callable[[F], F]:
    """Parse the query string into ``model`` and pass it as the ``query`` keyword."""

    def decorator(func: F) -> F:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            # An empty value (``?cursor=&until=``) means the parameter is not given.
            data = {k: v for k, v in request.args.to_dict(flat=True).items() if v != ""}
            return await func(*args, query=parse_model(model, data, prefix="query"), **kwargs)

        return document_querystring(model)(document_response(ErrorBody, 400)(wrapper))  # type: ignore[return-value]

    return decorator


def responds(model: type[BaseModel], status: int = 200) -> Callable[[F], F]:
    """Document the success response (validation of our own output is left to tests)."""
    return document_response(model, status)
