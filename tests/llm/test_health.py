"""GET /health/llm through a served app, and the backend down/recovered notifications."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from quart import Quart

from aman.core.app import create_app
from aman.events.model import Event
from aman.notifications.model import Severity
from aman.notifications.service import notification_for
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.llm.fakes import FakeOpenAIServer, fail


@asynccontextmanager
async def served(make_settings: SettingsFactory, **overrides: Any) -> AsyncIterator[Quart]:
    app = create_app(make_settings(**overrides))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


def remote(url: str) -> dict[str, Any]:
    return {"llm.default_provider": "remote",
            "llm.providers": {"remote": {"kind": "openai", "model": "fake-model", "base_url": url,
                                         "api_key": "sk-test", "max_retries": 0}}}


async def test_ok_when_the_default_agents_provider_answered(
        make_settings: SettingsFactory, openai_server: FakeOpenAIServer) -> None:
    async with served(make_settings, **remote(openai_server.url)) as app:
        response = await app.test_client().get("/health/llm")
        body = await response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["provider"] == "remote" and body["model"] == "fake-model"
    assert body["kind"] == "openai" and body["last_probe_at"] > 0 and body["last_probe_ok"]


async def test_503_names_the_provider_and_its_last_error(make_settings: SettingsFactory,
                                                         openai_server: FakeOpenAIServer) -> None:
    openai_server.models_reply = fail(500, error="upstream exploded")
    async with served(make_settings, **remote(openai_server.url)) as app:
        response = await app.test_client().get("/health/llm")
        body = await response.get_json()
    assert response.status_code == 503
    error = body["error"]
    assert error["code"] == "llm_unavailable" and "'remote'" in error["message"]
    assert "upstream exploded" in error["message"]
    assert error["details"] == {"provider": "remote", "last_error_code": "llm_server_error"}
    assert body["provider"] == "remote" and body["last_error"]["code"] == "llm_server_error"
    assert response.headers["Retry-After"]


async def test_no_provider_configured_is_llm_not_configured(make_settings: SettingsFactory) -> None:
    async with served(make_settings, **{"llm.default_provider": ""}) as app:
        response = await app.test_client().get("/health/llm")
        body = await response.get_json()
    assert response.status_code == 503 and body["error"]["code"] == "llm_not_configured"
    assert "llm.providers" in body["error"]["hint"] and "aman[local]" in body["error"]["hint"]


async def test_missing_local_model_is_llm_not_configured_with_install_hint(
        make_settings: SettingsFactory) -> None:
    overrides = {"llm.providers": {"local": {"kind": "local",
                                             "model_path": "/nonexistent/model.gguf"}}}
    async with served(make_settings, **overrides) as app:
        response = await app.test_client().get("/health/llm")
        body = await response.get_json()
    assert response.status_code == 503 and body["error"]["code"] == "llm_not_configured"
    assert "/nonexistent/model.gguf" in body["error"]["message"]
    assert "pip install 'aman[local]'" in body["error"]["hint"]
    assert body["provider"] == "local"


async def test_agents_provider_is_the_one_probed(make_settings: SettingsFactory,
                                                 openai_server: FakeOpenAIServer) -> None:
    overrides = {**remote(openai_server.url), "llm.default_provider": "local",
                 "agents": {"aman": {"provider": "remote"}}}
    async with served(make_settings, **overrides) as app:
        body = await (await app.test_client().get("/health/llm")).get_json()
    assert body["provider"] == "remote"


def fact(event_type: str, payload: dict[str, Any]) -> Event:
    return Event.create(source="system:llm", event_type=event_type, payload=payload)


def test_backend_down_is_a_critical_llm_notification() -> None:
    spec = notification_for(fact("llm.backend_down", {
        "provider": "remote", "failures": 3, "code": "llm_server_error", "error": "500 boom"}))
    assert spec is not None
    assert (spec["severity"], spec["category"]) == (Severity.CRITICAL, "llm")
    assert "llm_backend_down" in spec["title"] and "remote" in spec["title"]
    assert "500 boom" in spec["message"]


def test_backend_recovered_is_an_info_notification() -> None:
    spec = notification_for(fact("llm.backend_recovered", {"provider": "remote"}))
    assert spec is not None and spec["severity"] is Severity.INFO and spec["category"] == "llm"
    assert "llm_backend_recovered" in spec["title"] and "remote" in spec["title"]


async def test_three_failed_calls_raise_a_stored_critical_notification(
        make_settings: SettingsFactory, openai_server: FakeOpenAIServer) -> None:
    from aman.llm.provider import LLMServerError
    from tests.llm.helpers import ask, collect

    openai_server.script(fail(500), fail(500), fail(500))
    async with served(make_settings, **remote(openai_server.url)) as app:
        rt = runtime_of(app)
        for _ in range(3):
            try:
                await collect(rt.llm.stream(None, ask()))
            except LLMServerError:
                pass
        await wait_for(lambda: rt.notifications.unread_count_cached > 0)
        [stored] = await rt.notifications.list(active_only=True)
    assert stored.severity is Severity.CRITICAL and stored.category == "llm"
    assert "llm_backend_down" in stored.title


async def test_any_provider_by_name_and_unknown_names_are_404(
        make_settings: SettingsFactory, openai_server: FakeOpenAIServer) -> None:
    settings = remote(openai_server.url)
    settings["llm.providers"]["spare"] = {"kind": "scripted"}
    openai_server.models_reply = fail(500, error="upstream exploded")
    async with served(make_settings, **settings) as app:
        client = app.test_client()
        spare = await client.get("/health/llm", query_string={"provider": "spare"})
        remote_one = await client.get("/health/llm", query_string={"provider": "remote"})
        unknown = await client.get("/health/llm", query_string={"provider": "nope"})
        spare_body, remote_body = await spare.get_json(), await remote_one.get_json()
        unknown_body = await unknown.get_json()
    assert spare.status_code == 200 and spare_body["provider"] == "spare"
    assert spare_body["kind"] == "scripted"
    assert remote_one.status_code == 503 and remote_body["provider"] == "remote"
    assert unknown.status_code == 404 and unknown_body["error"]["code"] == "provider_not_found"
