"""The notification routes through the app, and a failing handler end to end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.core.runtime import Runtime
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.notifications.model import Severity
from tests.helpers import SettingsFactory, runtime_of, wait_for

if TYPE_CHECKING:  # a module-level name starting with "Test" would be collected by pytest
    from quart.typing import TestClientProtocol

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def post_test(client: TestClientProtocol, **body: Any) -> dict[str, Any]:
    response = await client.post("/notifications/test", json=body)
    assert response.status_code == 201, await response.get_json()
    created: dict[str, Any] = await response.get_json()
    return created


async def listing(client: TestClientProtocol, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/notifications{query}")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def test_an_empty_list(client: TestClientProtocol) -> None:
    assert await listing(client) == {"items": [], "unread_count": 0}
    assert await (await client.get("/notifications/unread-count")).get_json() == {"count": 0}


async def test_test_notification_with_defaults_and_with_an_action(
    client: TestClientProtocol,
) -> None:
    plain = await post_test(client)
    assert (plain["severity"], plain["category"]) == ("warning", "test")
    assert plain["title"] == "Test notification"
    assert plain["action_route"] is None and plain["dismissible"] and plain["active"]
    linked = await post_test(client, severity="info", title="Hi", message="there",
                             action_label="Open DLQ", action_route="/dlq")
    assert (linked["action_label"], linked["action_route"]) == ("Open DLQ", "/dlq")
    body = await listing(client)
    assert [n["id"] for n in body["items"]] == [linked["id"], plain["id"]]
    assert body["unread_count"] == 2
    assert await (await client.get("/notifications/unread-count")).get_json() == {"count": 2}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"severity": "loud"}, "body.severity"),
        ({"title": ""}, "body.title"),
        ({"action_route": "https://evil.example/"}, "body.action_route"),
        ({"action_route": "//evil.example/"}, "body.action_route"),
        ({"action_label": "Go"}, "action_label needs an action_route"),
        ({"colour": "red"}, "body.colour"),
    ],
)
async def test_test_notification_bodies_are_validated(
    client: TestClientProtocol, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/notifications/test", json=body)
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "validation_error" and field in error["message"]
    assert (await listing(client))["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [("?severity=bogus", "query.severity"), ("?limit=0", "query.limit"),
     ("?limit=501", "query.limit"), ("?offset=-1", "query.offset"),
     ("?active_only=maybe", "query.active_only"), ("?colour=red", "query.colour")],
)
async def test_bad_queries_name_the_parameter(
    client: TestClientProtocol, query: str, field: str
) -> None:
    response = await client.get(f"/notifications{query}")
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert error["code"] == "validation_error" and field in error["message"]


async def test_list_filters_and_pages(client: TestClientProtocol) -> None:
    for severity in ("critical", "warning", "info", "warning"):
        await post_test(client, severity=severity, title=severity)
    warnings = await listing(client, "?severity=warning")
    assert [n["severity"] for n in warnings["items"]] == ["warning", "warning"]
    assert warnings["unread_count"] == 4
    page = await listing(client, "?limit=2&offset=1")
    assert [n["title"] for n in page["items"]] == ["info", "warning"]
    first = (await listing(client))["items"][0]
    await client.post(f"/notifications/{first['id']}/ack")
    active = await listing(client, "?active_only=true")
    assert len(active["items"]) == 3 and active["unread_count"] == 3


async def test_dismissing_a_critical_is_409_and_changes_nothing(
    client: TestClientProtocol, runtime: Runtime
) -> None:
    critical = await post_test(client, severity="critical")
    assert critical["dismissible"] is False
    response = await client.post(f"/notifications/{critical['id']}/dismiss")
    assert response.status_code == 409
    error = (await response.get_json())["error"]
    assert error["code"] == "not_dismissible"
    assert f"/notifications/{critical['id']}/ack" in error["hint"]
    [still] = (await listing(client))["items"]
    assert still == critical
    assert runtime.notifications.unread_count_cached == 1
    acked = await client.post(f"/notifications/{critical['id']}/ack")
    assert acked.status_code == 200
    body = await acked.get_json()
    assert body["read"] is True and body["active"] is False and body["dismissed"] is False
    assert await (await client.get("/notifications/unread-count")).get_json() == {"count": 0}


async def test_dismiss_and_ack_are_audited(client: TestClientProtocol) -> None:
    warning = await post_test(client)
    assert (await client.post(f"/notifications/{warning['id']}/dismiss")).status_code == 200
    assert (await client.post(f"/notifications/{warning['id']}/ack")).status_code == 200
    items = (await (await client.get("/audit-log?action=notification.*")).get_json())["items"]
    actions = [(r["action"], r["target"], r["outcome"]) for r in items]
    assert ("notification.dismiss", f"notification:{warning['id']}", "ok") in actions
    assert ("notification.ack", f"notification:{warning['id']}", "ok") in actions
    assert any(a[0] == "notification.test" for a in actions)


async def test_dismiss_all_leaves_criticals(client: TestClientProtocol) -> None:
    critical = await post_test(client, severity="critical")
    for severity in ("warning", "info", "warning"):
        await post_test(client, severity=severity)
    response = await client.post("/notifications/dismiss-all")
    assert response.status_code == 200 and await response.get_json() == {"dismissed": 3}
    active = await listing(client, "?active_only=true")
    assert [n["id"] for n in active["items"]] == [critical["id"]] and active["unread_count"] == 1
    assert await (await client.post("/notifications/dismiss-all")).get_json() == {"dismissed": 0}


@pytest.mark.parametrize("action", ["dismiss", "ack"])
async def test_unknown_ids_are_404(client: TestClientProtocol, action: str) -> None:
    response = await client.post(f"/notifications/no-such-id/{action}")
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "not_found"


@pytest.fixture
async def token_app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    app = create_app(make_settings(**{"http.token": TOKEN}))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


async def test_test_notifications_are_refused_when_a_token_is_configured(token_app: Quart) -> None:
    client = token_app.test_client()
    # Refused before the body is read: even an invalid body gets the 403.
    for body in ({"title": "x"}, {"severity": "loud"}):
        response = await client.post("/notifications/test", json=body, headers=AUTH)
        assert response.status_code == 403
        error = (await response.get_json())["error"]
        assert error["code"] == "test_notifications_disabled" and "http.token" in error["hint"]
    listed = await (await client.get("/notifications", headers=AUTH)).get_json()
    assert listed == {"items": [], "unread_count": 0}
    assert (await client.get("/notifications")).status_code == 401
    audit = await (await client.get("/audit-log?action=notification.test", headers=AUTH)).get_json()
    assert [r["outcome"] for r in audit["items"]] == ["forbidden", "forbidden"]


# --- end to end: a failing handler ---------------------------------------------------------------


@pytest.fixture
async def retry_app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    settings = make_settings(**{"event_bus.retry_backoff_ms": [10], "event_bus.max_retries": 1})
    app = create_app(settings)
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


async def test_a_failing_handler_ends_as_a_dlq_notification(retry_app: Quart) -> None:
    rt = runtime_of(retry_app)
    client = retry_app.test_client()

    async def always_fails(event: Event) -> None:
        raise RuntimeError("printer on fire")

    only_print = EventFilter(event_types=frozenset({"print"}))
    unsubscribe = rt.bus.subscribe("printer", always_fails, only_print)
    try:
        response = await client.post("/events/push",
                                     json={"source": "test:e2e", "event_type": "print"})
        assert response.status_code == 202
        pushed = (await response.get_json())["id"]
        await wait_for(lambda: rt.dlq.depth_cache == 1)
        await wait_for(lambda: rt.notifications.unread_count_cached == 2)
        await rt.bus.wait_idle()
    finally:
        unsubscribe()
    body = await listing(client)
    by_category = {n["category"]: n for n in body["items"]}
    assert set(by_category) == {"dlq", "handler"} and body["unread_count"] == 2
    parked = by_category["dlq"]
    assert (parked["severity"], parked["action_route"]) == ("warning", "/dlq")
    assert pushed in parked["message"] and "printer on fire" in parked["message"]
    # The notification keeps the id of the fact that caused it, which points at the pushed event.
    cause = (await (await client.get(f"/events/dump/{parked['event_id']}")).get_json())["event"]
    assert cause["event_type"] == "dlq.parked" and cause["payload"]["event_id"] == pushed
    assert cause["metadata"]["parent_event_id"] == pushed
    failed = by_category["handler"]
    assert pushed in failed["message"] and failed["severity"] == Severity.WARNING.value
    entries = (await (await client.get("/dlq")).get_json())["items"]
    assert [e["event_id"] for e in entries] == [pushed]
