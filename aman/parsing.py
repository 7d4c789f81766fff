"""Parsing untrusted JSON into pydantic models, with errors that name the field path.

Shared by the HTTP edge and the IM channel adapters (which verify raw bodies themselves), so
every caller reports a bad body the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from aman.errors import InvalidJsonError, ValidationFailedError

M = TypeVar("M", bound=BaseModel)


def json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` as a JSON object, or ``InvalidJsonError`` / ``ValidationFailedError`` saying why."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidJsonError("request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidJsonError(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ValidationFailedError(
            f"request body must be a JSON object, not {type(data).__name__}",
            hint='Wrap the fields in an object: {"field": value}.',
        )
    return data


def describe(exc: ValidationError, *, prefix: str, what: str = "request") -> ValidationFailedError:
    """One message listing each failing field path (``body.reason: ...``)."""
    fields = []
    for error in exc.errors():
        path = ".".join([prefix, *(str(p) for p in error["loc"])])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known field"
        fields.append({"path": path, "message": message, "type": error["type"]})
    summary = "; ".join(f"{f['path']}: {f['message']}" for f in fields)
    return ValidationFailedError(f"invalid {what}: {summary}", details={"fields": fields})


def error_summary(exc: ValidationError, *, root: str) -> str:
    """``path: message; ...`` for each failing field (``root`` names an error of the whole)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or root}: "
        f"{str(error['msg']).removeprefix('Value error, ')}" for error in exc.errors())


def parse_model(model: type[M], data: Any, *, prefix: str, what: str = "request") -> M:
    """Validate ``data`` against ``model`` or raise ``ValidationFailedError``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise describe(exc, prefix=prefix, what=what) from None


def regex_pattern(value: str) -> str:
    """``value`` if it compiles as a regular expression; a ``ValueError`` saying why otherwise
    (the body of pydantic validators for pattern fields)."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value
