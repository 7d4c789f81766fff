"""Workflow routes through the test client, on the shipped example definitions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aman.core.runtime import Runtime

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

CONFIRM = {"x-aman-confirm": "yes"}


async def create(client: TestClientProtocol, data: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/workflow/approval/create", json={"data": data or {}})
    assert response.status_code == 201
    return dict(await response.get_json())


async def test_listing_and_definition(client: TestClientProtocol) -> None:
    items = (await (await client.get("/workflows")).get_json())["items"]
    approval = next(i for i in items if i["name"] == "approval")
    assert approval["status"] == "loaded" and approval["error"] is None
    assert approval["states"][0] == "pending" and approval["description"]
    body = await (await client.get("/workflow/approval")).get_json()
    assert body["initial_state"] == "pending" and body["version_number"] == 1
    assert body["transitions"][0]["from"] == "pending"


async def test_unknown_workflow_is_404_and_bad_create_bodies_are_400(
        client: TestClientProtocol, runtime: Runtime) -> None:
    missing = await client.get("/workflow/nope")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["code"] == "workflow_not_found"
    assert (await client.post("/workflow/nope/create", json={})).status_code == 404
    for bad in ({"data": [1]}, {"data": {}, "extra": 1}):
        response = await client.post("/workflow/approval/create", json=bad)
        assert response.status_code == 400
        assert (await response.get_json())["error"]["code"] == "validation_error"
    items, _ = await runtime.workflows.page(workflow=None, state=None, after=None, limit=10)
    assert items == []


async def test_create_then_read_with_history(client: TestClientProtocol) -> None:
    created = await create(client, {"title": "laptop"})
    assert created["current_state"] == "pending" and created["data"] == {"title": "laptop"}
    body = await (await client.get(f"/workflow-instance/{created['id']}")).get_json()
    assert body["history"][0]["to"] == "pending" and body["history"][0]["reason"] == "created"
    assert (await client.get("/workflow-instance/nope")).status_code == 404


async def test_instances_filter_and_paginate(client: TestClientProtocol,
                                             runtime: Runtime) -> None:
    ids = [(await create(client))["id"] for _ in range(3)]
    await runtime.workflows.cancel(ids[0], operator="t")
    first = await (await client.get("/workflow-instances?workflow=approval&limit=2")).get_json()
    assert [i["id"] for i in first["items"]] == ids[:2] and first["next_cursor"]
    rest = await (await client.get(
        f"/workflow-instances?workflow=approval&limit=2&cursor={first['next_cursor']}")).get_json()
    assert [i["id"] for i in rest["items"]] == ids[2:] and rest["next_cursor"] is None
    pending = await (await client.get("/workflow-instances?state=pending")).get_json()
    assert [i["id"] for i in pending["items"]] == ids[1:]
    bad = await client.get("/workflow-instances?cursor=garbage")
    assert bad.status_code == 400


async def test_retry_and_cancel_need_confirmation_and_change_nothing_without_it(
        client: TestClientProtocol) -> None:
    created = await create(client)
    for action in ("retry", "cancel"):
        response = await client.post(f"/workflow-instance/{created['id']}/{action}")
        assert response.status_code == 409
        assert (await response.get_json())["error"]["code"] == "confirmation_required"
    body = await (await client.get(f"/workflow-instance/{created['id']}")).get_json()
    assert body["current_state"] == "pending" and len(body["history"]) == 1


async def test_retry_outside_the_error_state_is_409_naming_the_state(
        client: TestClientProtocol) -> None:
    created = await create(client)
    response = await client.post(f"/workflow-instance/{created['id']}/retry", headers=CONFIRM)
    assert response.status_code == 409
    error = (await response.get_json())["error"]
    assert error["code"] == "invalid_transition" and "'pending'" in error["message"]


async def test_cancel_with_confirmation_then_again_is_409(client: TestClientProtocol) -> None:
    created = await create(client)
    response = await client.post(f"/workflow-instance/{created['id']}/cancel", headers=CONFIRM)
    assert response.status_code == 200
    body = await response.get_json()
    assert (body["from_state"], body["to_state"], body["transitioned"]) == (
        "pending", "cancelled", True)
    again = await client.post(f"/workflow-instance/{created['id']}/cancel", headers=CONFIRM)
    assert again.status_code == 409
    assert "cancelled" in (await again.get_json())["error"]["message"]
