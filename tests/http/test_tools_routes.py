"""GET /tools and POST /tools/{name}/execute through the served app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from aman.core.runtime import Runtime
from aman.tools.model import Sensitivity, Tool, ToolContext, ToolOutput, tool_roots

if TYPE_CHECKING:  # a module-level name starting with "Test" would be collected by pytest
    from quart.typing import TestClientProtocol

CONFIRM = {"x-aman-confirm": "yes"}


class _Params(BaseModel):
    text: str = "x"


@dataclass
class _Block:
    rule: str
    reason: str


async def _shout(params: _Params, ctx: ToolContext) -> ToolOutput:
    return ToolOutput(params.text.upper())


def _guard(params: _Params, ctx: ToolContext) -> _Block | None:
    if params.text != "forbidden":
        return None
    return _Block("test_rule", "the word 'forbidden' is never shouted")


def register_shout(runtime: Runtime) -> None:
    runtime.tools.register(Tool("shout", "Shout a text.", _Params, Sensitivity.HIGH, _shout,
                                source="test", guard=_guard))


async def error_of(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = (await response.get_json())["error"]
    return body


async def test_list_tools(client: TestClientProtocol) -> None:
    response = await client.get("/tools")
    assert response.status_code == 200
    items = {i["name"]: i for i in (await response.get_json())["items"]}
    assert {"read", "write", "edit", "list", "find", "grep", "read_skill"} <= set(items)
    assert items["write"]["sensitivity"] == "medium" and items["read"]["source"] == "builtin"
    assert items["grep"]["schema"]["properties"]["max_results"]["maximum"] == 500


async def test_write_then_read_in_the_workspace(client: TestClientProtocol,
                                                runtime: Runtime) -> None:
    response = await client.post("/tools/write/execute", json={"path": "a/b.txt", "content": "hi"})
    assert response.status_code == 200, await response.get_json()
    body = await response.get_json()
    assert body["tool"] == "write" and body["output"]["created"] and body["duration_ms"] >= 0
    assert (tool_roots(runtime.settings)[0] / "a" / "b.txt").read_text() == "hi"
    read = await (await client.post("/tools/read/execute", json={"path": "a/b.txt"})).get_json()
    assert read["output"] == "hi" and read["truncated"] is False
    audit = await (await client.get("/audit-log?action=tool.execute")).get_json()
    newest = audit["items"][0]
    assert newest["target"] == "tool:read" and newest["detail"]["status"] == "success"


async def test_unknown_tool_is_404(client: TestClientProtocol) -> None:
    response = await client.post("/tools/raed/execute", json={})
    assert response.status_code == 404
    error = await error_of(response)
    assert error["code"] == "tool_not_found" and "read" in error["message"]


async def test_invalid_parameters_name_the_field_path(client: TestClientProtocol) -> None:
    response = await client.post("/tools/grep/execute", json={"pattern": "x", "max_results": 501})
    assert response.status_code == 400
    error = await error_of(response)
    assert error["code"] == "validation_error" and "arguments.max_results" in error["message"]
    response = await client.post("/tools/read/execute", json={"path": "a", "bogus": 1})
    assert "arguments.bogus" in (await error_of(response))["message"]


async def test_tool_failure_is_400_tool_failed(client: TestClientProtocol) -> None:
    response = await client.post("/tools/read/execute", json={"path": "missing.txt"})
    assert response.status_code == 400
    error = await error_of(response)
    assert error["code"] == "tool_failed" and "missing.txt" in error["message"]


async def test_path_escape_is_403_and_changes_nothing(client: TestClientProtocol,
                                                      runtime: Runtime) -> None:
    response = await client.post("/tools/write/execute",
                                 json={"path": "../escaped.txt", "content": "x"})
    assert response.status_code == 403
    assert (await error_of(response))["code"] == "path_not_allowed"
    assert not (runtime.settings.runtime.dir / "escaped.txt").exists()


async def test_high_tools_need_confirmation(client: TestClientProtocol, runtime: Runtime) -> None:
    register_shout(runtime)
    response = await client.post("/tools/shout/execute", json={"text": "hey"})
    assert response.status_code == 409
    assert (await error_of(response))["code"] == "confirmation_required"
    response = await client.post("/tools/shout/execute", json={"text": "hey"}, headers=CONFIRM)
    assert response.status_code == 200 and (await response.get_json())["output"] == "HEY"


async def test_blocked_is_403_even_when_confirmed(client: TestClientProtocol,
                                                  runtime: Runtime) -> None:
    register_shout(runtime)
    for headers in ({}, CONFIRM):
        response = await client.post("/tools/shout/execute", json={"text": "forbidden"},
                                     headers=headers)
        assert response.status_code == 403
        error = await error_of(response)
        assert error["code"] == "tool_blocked"
        assert "test_rule" in error["message"] and "never shouted" in error["message"]
        assert error["details"] == {"rule": "test_rule",
                                    "reason": "the word 'forbidden' is never shouted"}


async def test_env_write_is_blocked(client: TestClientProtocol, runtime: Runtime) -> None:
    response = await client.post("/tools/write/execute", json={"path": ".env", "content": "A=1"})
    assert response.status_code == 403 and (await error_of(response))["code"] == "tool_blocked"
    assert not (tool_roots(runtime.settings)[0] / ".env").exists()
