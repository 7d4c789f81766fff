"""POST /config/set and GET /config/live-keys through the served app."""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart

from aman.config.override import OVERRIDE_FILE_NAME
from aman.core.runtime import Runtime

CONFIRM = {"x-aman-confirm": "yes", "x-aman-operator": "alice"}


async def post_set(app: Quart, changes: Any, headers: dict[str, str] | None = None) -> Any:
    return await app.test_client().post(
        "/config/set", json={"changes": changes}, headers=CONFIRM if headers is None else headers
    )


async def audit(app: Quart) -> list[dict[str, Any]]:
    response = await app.test_client().get("/audit-log?action=config.set")
    items: list[dict[str, Any]] = (await response.get_json())["items"]
    return items


async def test_set_changes_the_queue_limit_and_answers_what_changed(
    app: Quart, runtime: Runtime
) -> None:
    response = await post_set(app, {"event_bus.max_queue_size": 64})
    assert response.status_code == 200
    body = await response.get_json()
    assert body["applied"] == {"event_bus.max_queue_size": 64}
    assert body["previous"] == {"event_bus.max_queue_size": 10_000}
    assert body["restart_required"] == []
    assert body["persisted_to"] == str(runtime.settings.runtime.dir / OVERRIDE_FILE_NAME)
    metrics = await (await app.test_client().get("/debug/metrics")).get_json()
    assert metrics["event_bus"]["queue_capacity"] == 64
    [record] = await audit(app)
    assert record["outcome"] == "ok" and record["operator"] == "alice"
    assert record["detail"]["changes"] == {"event_bus.max_queue_size": {"old": 10_000, "new": 64}}


async def test_set_without_confirmation_is_refused_and_changes_nothing(
    app: Quart, runtime: Runtime
) -> None:
    response = await post_set(app, {"event_bus.max_queue_size": 64}, headers={})
    assert response.status_code == 409
    assert (await response.get_json())["error"]["code"] == "confirmation_required"
    assert runtime.bus.max_queue_size == 10_000
    [record] = await audit(app)
    assert record["outcome"] == "confirmation_required"


@pytest.mark.parametrize(
    ("changes", "code", "named"),
    [
        ({"event_bus.max_queue_sise": 5}, "unknown_config_key", "event_bus.max_queue_size"),
        ({"http.bind": "127.0.0.1:1"}, "config_restart_required", "http.bind"),
        ({"event_bus.max_queue_size": "lots"}, "invalid_config_value", "event_bus.max_queue_size"),
        ({"runtime.log_level": "LOUD"}, "invalid_config_value", "DEBUG, INFO, WARNING, ERROR"),
    ],
)
async def test_refused_changes_are_400_naming_the_key_and_change_nothing(
    app: Quart, runtime: Runtime, changes: dict[str, Any], code: str, named: str
) -> None:
    response = await post_set(app, {**changes, "dlq.ttl_days": 2})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == code and named in error["message"] and error["hint"]
    assert runtime.settings.dlq.ttl_days == 30 and runtime.bus.max_queue_size == 10_000
    assert not (runtime.settings.runtime.dir / OVERRIDE_FILE_NAME).exists()
    [record] = await audit(app)
    assert record["outcome"] == "rejected" and record["detail"]["error_code"] == code
    assert record["detail"]["keys"] == sorted([*changes, "dlq.ttl_days"])


async def test_pinned_key_is_400_naming_the_variable(
    app: Quart, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMAN_EVENT_BUS__RATE_LIMIT_BURST", "10")
    response = await post_set(app, {"event_bus.rate_limit_burst": 20})
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "config_key_pinned"
    assert "AMAN_EVENT_BUS__RATE_LIMIT_BURST" in error["message"]


@pytest.mark.parametrize("body", [{"changes": {}}, {"changes": {"a.b": 1}, "extra": 1}, {}])
async def test_body_must_name_some_changes_and_nothing_else(app: Quart, body: Any) -> None:
    response = await app.test_client().post("/config/set", json=body, headers=CONFIRM)
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "validation_error"


async def test_live_keys_lists_the_changeable_keys_with_values(app: Quart) -> None:
    await post_set(app, {"skills.debounce_ms": 120})
    response = await app.test_client().get("/config/live-keys")
    assert response.status_code == 200
    body = await response.get_json()
    keys = {entry["key"]: entry for entry in body["keys"]}
    assert keys["skills.debounce_ms"]["value"] == 120
    assert keys["event_bus.max_queue_size"]["takes_effect"]
    assert keys["event_bus.max_queue_size"]["pinned_by"] is None
    assert "http.bind" not in keys
    assert body["override_file"].endswith(OVERRIDE_FILE_NAME)


async def test_runtime_config_still_answers(app: Quart) -> None:
    await post_set(app, {"runtime.drain_timeout_sec": 8})
    response = await app.test_client().get("/runtime/config")
    assert response.status_code == 200
    assert (await response.get_json())["drain_timeout_sec"] == 8


async def test_effective_settings_hide_every_secret(make_settings: Any) -> None:
    from aman.core.app import create_app
    from tests.helpers import runtime_of, wait_for

    settings = make_settings(**{
        "http.token": "tok-123456789", "llm.default_provider": "o",
        "llm.providers": {"o": {"kind": "openai", "api_key": "sk-secret-value",
                                "headers": {"Authorization": "Bearer hdr-secret", "X-Plain": "v"}}},
        "forwarders": [{"name": "f", "url": "http://127.0.0.1:9/x", "secret": "fwd-secret"}]})
    app = create_app(settings)
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        response = await app.test_client().get(
            "/config/effective", headers={"Authorization": "Bearer tok-123456789"})
    assert response.status_code == 200
    text = (await response.get_data()).decode()
    for secret in ("tok-123456789", "sk-secret-value", "hdr-secret", "fwd-secret"):
        assert secret not in text
    shown = (await response.get_json())["settings"]
    assert shown["http"]["token"] == "***" and shown["http"]["bind"] == settings.http.bind
    provider = shown["llm"]["providers"]["o"]
    assert provider["api_key"] == "***" and provider["headers"] == {"Authorization": "***",
                                                                    "X-Plain": "v"}
    assert shown["event_bus"]["max_queue_size"] == settings.event_bus.max_queue_size
    assert shown["runtime"]["dir"] == str(settings.runtime.dir)
