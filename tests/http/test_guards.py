"""The one guard: auth, confirmation, readiness; request ids; audit of refusals and changes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from quart import Quart

from aman.core.app import create_app
from tests.helpers import SettingsFactory, runtime_of, wait_for

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def token_app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    app = create_app(make_settings(**{"http.token": TOKEN}))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/health", "/metrics"])
async def test_public_routes_need_no_token(token_app: Quart, path: str) -> None:
    assert (await token_app.test_client().get(path)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"x-aman-token": "wrong"}, {"Authorization": TOKEN}],
)
async def test_protected_routes_refuse_missing_or_wrong_tokens(token_app: Quart,
                                                               headers: dict[str, str]) -> None:
    response = await token_app.test_client().get("/runtime/status", headers=headers)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("headers",
                         [AUTH, {"x-aman-token": TOKEN}, {"authorization": f"bearer {TOKEN}"}])
async def test_either_header_carries_the_token(token_app: Quart, headers: dict[str, str]) -> None:
    assert (await token_app.test_client().get("/runtime/status",
                                              headers=headers)).status_code == 200


async def test_refusals_are_audited(token_app: Quart) -> None:
    client = token_app.test_client()
    await client.get("/runtime/config", headers={"x-aman-operator": "mallory"})
    await client.post("/agent/shutdown", headers=AUTH)
    page = await (await client.get("/audit-log", headers=AUTH)).get_json()
    outcomes = [(r["outcome"], r["operator"], r["action"]) for r in page["items"]]
    assert ("confirmation_required", "api", "agent.shutdown") in outcomes
    assert ("unauthorized", "mallory", "http.get") in outcomes


async def test_confirmation_required_changes_nothing(client, runtime) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/agent/shutdown", headers={"x-aman-confirm": "no"})
    assert response.status_code == 409
    body = await response.get_json()
    assert body["error"]["code"] == "confirmation_required"
    assert "x-aman-confirm: yes" in body["error"]["hint"]
    assert runtime.ready


async def test_confirmed_shutdown_then_start(client, runtime) -> None:  # type: ignore[no-untyped-def]
    response = await client.post(
        "/agent/shutdown",
        headers={"x-aman-confirm": "  Yes ", "x-aman-operator": "alice"},
        json={"reason": "maintenance"},
    )
    assert response.status_code == 200
    assert (await response.get_json())["state"] == "stopped"
    not_ready = await client.get("/audit-log")
    assert not_ready.status_code == 503 and not_ready.headers["Retry-After"]
    assert (await not_ready.get_json())["error"]["code"] == "not_ready"
    assert (await client.get("/health/ready")).status_code == 503
    assert (await client.post("/agent/start")).status_code == 200
    again = await client.post("/agent/start")
    assert again.status_code == 200 and (await again.get_json())["started"] is False
    items = (await (await client.get("/audit-log?action=agent.*")).get_json())["items"]
    shutdown = next(r for r in items if r["action"] == "agent.shutdown")
    assert shutdown["operator"] == "alice" and shutdown["detail"]["reason"] == "maintenance"
    assert [r["action"] for r in items][:3] == ["agent.start", "agent.start", "agent.shutdown"]


async def test_request_id_is_echoed_or_generated(client) -> None:  # type: ignore[no-untyped-def]
    mine = await client.get("/health/live", headers={"x-request-id": "abc-123"})
    assert mine.headers["x-request-id"] == "abc-123"
    generated = await client.get("/health/live", headers={"x-request-id": "bad id with spaces"})
    assert generated.headers["x-request-id"] != "bad id with spaces"
    assert len(generated.headers["x-request-id"]) == 16


async def test_metrics_count_requests_by_route_template(client) -> None:  # type: ignore[no-untyped-def]
    await client.get("/health/live")
    await client.get("/does/not/exist")
    text = (await (await client.get("/metrics")).get_data()).decode()
    assert 'aman_http_requests_total{method="GET",route="/health/live",status="200"} 1.0' in text
    assert 'route="<unmatched>",status="404"' in text
    assert "aman_boot_phase 5.0" in text
    assert "process_resident_memory_bytes" in text


async def test_debug_metrics_is_json_of_the_same_figures(client) -> None:  # type: ignore[no-untyped-def]
    body = await (await client.get("/debug/metrics")).get_json()
    assert body["phase"] == 5 and body["ready"] is True
    assert "aman_http_requests" in body["metrics"]


async def test_runtime_config_never_shows_the_token(token_app: Quart) -> None:
    response = await token_app.test_client().get("/runtime/config", headers=AUTH)
    text = (await response.get_data()).decode()
    assert TOKEN not in text
    assert (await response.get_json())["token_configured"] is True


async def test_audit_log_pages_with_cursor(client) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        await client.post("/agent/shutdown")
    seen: list[int] = []
    cursor = None
    while True:
        url = "/audit-log?limit=2&action=agent.shutdown" + (f"&cursor={cursor}" if cursor else "")
        page = await (await client.get(url)).get_json()
        seen.extend(r["id"] for r in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) == 5 == len(set(seen))
    verify = await (await client.get("/audit-log/verify")).get_json()
    assert verify["ok"] is True and verify["checked"] == 5


async def test_health_llm_answers_for_the_shipped_local_provider(client) -> None:  # type: ignore[no-untyped-def]
    # 200 with the aman[local] extra installed, else 503 llm_not_configured
    # (tests/llm/test_health.py)
    response = await client.get("/health/llm")
    body = await response.get_json()
    assert body["provider"] == "local"
    assert response.status_code == 200 or body["error"]["code"] == "llm_not_configured"
