"""What the OpenAPI document promises beyond the routes' own declarations (the schemathesis run
in tests/e2e/test_openapi.py checks the whole document against a real daemon)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol


async def document(client: TestClientProtocol) -> dict[str, Any]:
    return dict(await (await client.get("/openapi.json")).get_json())


async def test_every_operation_lists_its_success_and_the_statuses_every_route_has(
        client: TestClientProtocol) -> None:
    paths = (await document(client))["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            statuses = {int(s) for s in operation["responses"]}
            assert any(200 <= s < 300 for s in statuses), f"{method} {path}"
            assert {403, 500} <= statuses, f"{method} {path}"
            if "{" in path:
                assert 404 in statuses, f"{method} {path} names something but lists no 404"
    assert 201 in {int(s) for s in paths["/chat/session/create"]["post"]["responses"]}
    assert {200, 202} <= {int(s) for s in paths["/events/push"]["post"]["responses"]}
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


async def test_required_query_parameters_and_bodies_are_marked(
        client: TestClientProtocol) -> None:
    paths = (await document(client))["paths"]
    search = {p["name"]: p for p in paths["/skills/search"]["get"]["parameters"]}
    assert search["q"].get("required") is True and not search["limit"].get("required")
    assert paths["/chat/session/{session_id}/send"]["post"]["requestBody"]["required"] is True
    assert paths["/idle-run"]["post"]["requestBody"]["content"]
    assert "required" not in paths["/chat/session/create"]["post"]["requestBody"]


async def test_an_empty_optional_query_value_means_not_given(
        client: TestClientProtocol) -> None:
    response = await client.get("/audit-log?cursor=&until=&action=")
    assert response.status_code == 200, await response.get_data()
    missing = await client.get("/skills/search?q=")
    assert missing.status_code == 400
