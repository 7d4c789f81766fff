"""Every error source answers with the one JSON shape.

``{"error": {code, message, hint, request_id}}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart

from aman.core.app import create_app
from tests.helpers import SettingsFactory, runtime_of, wait_for


@pytest.fixture
async def small_app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    app = create_app(make_settings(**{"http.max_body_bytes": 2048}))

    @app.get("/test/explode")
    async def explode() -> str:
        raise RuntimeError("secret internals")

    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


def assert_error_shape(body: dict, code: str) -> None:  # type: ignore[type-arg]
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code
    assert error["message"] and error["hint"] and error["request_id"]
    assert set(error) <= {"code", "message", "hint", "request_id", "details"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/nope", {}, 404, "not_found"),
        ("DELETE", "/health/live", {}, 405, "method_not_allowed"),
        ("POST", "/agent/shutdown", {}, 409, "confirmation_required"),
        ("POST", "/agent/shutdown", {"headers": {"x-aman-confirm": "yes"}, "data": "{not json"},
         400, "invalid_json"),
        ("POST", "/agent/shutdown", {"headers": {"x-aman-confirm": "yes"}, "json": [1, 2]}, 400,
         "validation_error"),
        ("POST", "/agent/shutdown", {"headers": {"x-aman-confirm": "yes"}, "json": {"reason": 5}},
         400, "validation_error"),
        ("POST", "/agent/shutdown", {"headers": {"x-aman-confirm": "yes"}, "json": {"bogus": 1}},
         400, "validation_error"),
        ("POST", "/agent/start", {"data": "x" * 5000}, 413, "payload_too_large"),
        ("GET", "/audit-log?limit=0", {}, 400, "validation_error"),
        ("GET", "/audit-log?limit=abc", {}, 400, "validation_error"),
        ("GET", "/audit-log?unknown=1", {}, 400, "validation_error"),
        ("GET", "/audit-log?since=yesterday", {}, 400, "validation_error"),
        ("GET", "/audit-log?cursor=!!!", {}, 400, "invalid_cursor"),
        ("GET", "/audit-log?cursor=eyJhIjoxfQ", {}, 400, "invalid_cursor"),
        ("GET", "/test/explode", {}, 500, "internal_error"),
    ],
)
async def test_error_sources_share_one_shape(
    small_app: Quart, method: str, path: str, kwargs: dict, status: int, code: str  # type: ignore[type-arg]
) -> None:
    response = await small_app.test_client().open(path, method=method, **kwargs)
    assert response.status_code == status
    assert response.content_type == "application/json"
    body = await response.get_json()
    assert_error_shape(body, code)
    assert response.headers["x-request-id"] == body["error"]["request_id"]
    assert "Traceback" not in str(body) and "secret internals" not in str(body)
    assert runtime_of(small_app).ready  # nothing was changed by a refused request


async def test_validation_errors_name_the_field_path(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/agent/shutdown", headers={"x-aman-confirm": "yes"},
                                 json={"reason": 5})
    body = await response.get_json()
    assert "body.reason" in body["error"]["message"]
    assert body["error"]["details"]["fields"][0]["path"] == "body.reason"
    query = await (await client.get("/audit-log?limit=5000")).get_json()
    assert "query.limit" in query["error"]["message"]


async def test_malformed_json_says_where(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/agent/shutdown", headers={"x-aman-confirm": "yes"},
                                 data='{"reason": }')
    message = (await response.get_json())["error"]["message"]
    assert "line 1, column" in message


async def test_not_ready_carries_retry_after_and_phase(client, runtime) -> None:  # type: ignore[no-untyped-def]
    await runtime.stop()
    response = await client.get("/audit-log")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
    body = await response.get_json()
    assert_error_shape(body, "not_ready")
    assert body["error"]["details"] == {"phase": 0, "state": "stopped"}
