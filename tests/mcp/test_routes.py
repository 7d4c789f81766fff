"""The /mcp routes through the app: listed in /openapi.json, thin over the manager."""

from __future__ import annotations

from tests.mcp.helpers import ServedApp, time_server, wait_state


async def test_routes_answer_and_are_documented(serve: ServedApp) -> None:
    async with serve({"time": time_server(), "off": {**time_server(), "enabled": False}}) as (
            app, runtime):
        client = app.test_client()
        listed = await (await client.get("/mcp/servers")).get_json()
        assert {s["name"]: s["state"] for s in listed["items"]}["off"] == "disabled"
        await wait_state(runtime, "time", "ready")
        tools = await (await client.get("/mcp/servers/time/tools")).get_json()
        assert {t["mcp_name"] for t in tools["items"]} >= {"get_current_time"}
        missing = await client.get("/mcp/servers/nope/tools")
        assert missing.status_code == 404
        assert (await missing.get_json())["error"]["code"] == "mcp_server_not_found"
        again = await client.post("/mcp/servers/time/reconnect")
        assert again.status_code == 200 and (await again.get_json())["name"] == "time"
        await wait_state(runtime, "time", "ready")
        spec = await (await client.get("/openapi.json")).get_json()
        assert {"/mcp/servers", "/mcp/servers/{name}/tools",
                "/mcp/servers/{name}/reconnect"} <= set(spec["paths"])
        audit = await (await client.get("/audit-log?limit=50")).get_json()
        assert any(r["action"] == "mcp.reconnect" for r in audit["items"])


async def test_effective_settings_hide_server_credentials(serve: ServedApp) -> None:
    servers = {"gh": {**time_server(), "env": {"GH_PAT": "ghp-very-secret", "PLAIN": "${HOME}"},
                      "enabled": False},
               "web": {"url": "http://127.0.0.1:9/mcp", "headers": {"X-Api": "hdr-secret"},
                       "enabled": False}}
    async with serve(servers) as (app, _):
        response = await app.test_client().get("/config/effective")
    text = (await response.get_data()).decode()
    assert "ghp-very-secret" not in text and "hdr-secret" not in text
    shown = (await response.get_json())["settings"]["mcp"]["servers"]
    assert shown["gh"]["env"] == {"GH_PAT": "***", "PLAIN": "${HOME}"}
