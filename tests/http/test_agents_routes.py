"""The agent routes through the served app; reload re-reads a real config file."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from quart import Quart

from aman.config.loader import load_settings
from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.helpers import runtime_of, wait_for

if TYPE_CHECKING:  # a module-level name starting with "Test" would be collected by pytest
    from quart.typing import TestClientProtocol

LLM = {"default_provider": "main",
       "providers": {"main": {"kind": "scripted", "model": "m1"},
                     "other": {"kind": "scripted", "model": "m2"}}}


def write_config(path: Path, runtime_dir: Path, agents: Any) -> None:
    document: dict[str, Any] = {"runtime": {"dir": str(runtime_dir)}, "llm": LLM}
    if agents is not None:
        document["agents"] = agents
    path.write_text(yaml.safe_dump(document))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reload re-reads the file with the process environment, as the daemon does.
    for name in list(os.environ):
        if name.startswith("AMAN_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def file_app(tmp_path: Path, runtime_dir: Path,
                   clean_env: None) -> AsyncIterator[tuple[Quart, Path]]:
    config_path = tmp_path / "aman.yaml"
    write_config(config_path, runtime_dir,
                 {"aman": {"display_name": "Aman"}, "cortana": {"provider": "other"},
                  "off": {"enabled": False}})
    settings = load_settings(config_path, env={})
    app = create_app(settings, runtime=Runtime(settings, config_path=config_path))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app, config_path


async def ok_json(response: Any, status: int = 200) -> Any:
    body = await response.get_json()
    assert response.status_code == status, body
    return body


async def test_default_config_serves_the_aman_agent(client: TestClientProtocol) -> None:
    body = await ok_json(await client.get("/agents"))
    [item] = body["items"]
    assert item["descriptor"]["agent_id"] == "aman" and item["status"] == "Idle"
    assert set(item) == {"descriptor", "status", "system_state", "active_session_id",
                         "registered_at", "activity"}
    one = await ok_json(await client.get("/agent/aman"))
    assert one["descriptor"] == item["descriptor"]


async def test_unknown_agent_is_404_agent_not_found(client: TestClientProtocol) -> None:
    body = await ok_json(await client.get("/agent/zed"), 404)
    assert body["error"]["code"] == "agent_not_found"
    assert body["error"]["message"].startswith("agent not found: zed")
    for path in ("/agent/zed/status", "/agent/zed/reload"):
        refused = await ok_json(await client.post(path, json={"status": "Idle"}), 404)
        assert refused["error"]["code"] == "agent_not_found"


async def test_set_status_round_trip_audited_and_announced(app: Quart,
                                                           client: TestClientProtocol) -> None:
    body = await ok_json(await client.post("/agent/aman/status", json={"status": "Busy"}))
    assert body["ok"] is True and body["status"] == "Busy" and body["agent_id"] == "aman"
    assert (await ok_json(await client.get("/agent/aman")))["status"] == "Busy"
    audit = await ok_json(await client.get("/audit-log?action=agent.status"))
    [record] = audit["items"]
    assert record["target"] == "agent:aman" and record["detail"]["previous"] == "Idle"

    # Facts are published in the background: poll the log until both have landed.
    async def both_landed() -> bool:
        items = (await ok_json(await client.get("/events/recent?limit=500")))["items"]
        seen = {e["event_type"] for e in items if e["source"] == "system:agents"}
        return {"agent:registered", "agent:status_changed"} <= seen

    await wait_for(both_landed, what="agent:registered and agent:status_changed in the log")


async def test_an_unknown_status_is_400_listing_the_allowed_ones(
        client: TestClientProtocol) -> None:
    body = await ok_json(await client.post("/agent/aman/status", json={"status": "Dreaming"}), 400)
    assert body["error"]["code"] == "invalid_agent_status"
    assert "Disabled, Preparing, Idle, Busy, Error" in body["error"]["message"]
    missing = await ok_json(await client.post("/agent/aman/status", json={}), 400)
    assert missing["error"]["code"] == "validation_error"


async def test_runtime_routes_under_agent_are_not_shadowed(client: TestClientProtocol) -> None:
    started = await ok_json(await client.post("/agent/start"))
    assert started["started"] is False
    shutdown = await ok_json(await client.post("/agent/shutdown"), 409)
    assert shutdown["error"]["code"] == "confirmation_required"
    for path in ("/agent/start", "/agent/shutdown"):  # as before /agent/{id} existed
        wrong = await client.get(path)
        assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
        assert (await wrong.get_json())["error"]["code"] == "method_not_allowed"


async def test_config_agents_with_statuses_and_chat_default(file_app: tuple[Quart, Path]) -> None:
    app, _ = file_app
    client = app.test_client()
    items = (await ok_json(await client.get("/agents")))["items"]
    statuses = {i["descriptor"]["agent_id"]: i["status"] for i in items}
    assert statuses == {"aman": "Idle", "cortana": "Idle", "off": "Disabled"}
    cortana = next(i for i in items if i["descriptor"]["agent_id"] == "cortana")
    assert cortana["descriptor"]["provider"] == "other" and cortana["descriptor"]["model"] == "m2"
    disabled = await ok_json(await client.post("/agent/off/status", json={"status": "Idle"}), 409)
    assert disabled["error"]["code"] == "agent_disabled"


async def test_reload_rereads_the_file_for_one_agent(file_app: tuple[Quart, Path],
                                                     runtime_dir: Path) -> None:
    app, config_path = file_app
    client = app.test_client()
    write_config(config_path, runtime_dir,
                 {"aman": {"display_name": "Aman II", "temperature": 0.1},
                  "cortana": {"provider": "main"}, "off": {"enabled": True}, "nova": {}})
    body = await ok_json(await client.post("/agent/aman/reload"))
    assert body["ok"] is True and body["agent_id"] == "aman"
    assert body["changed"] == ["display_name", "temperature"]
    assert body["agent"]["descriptor"]["display_name"] == "Aman II"
    # Only the named agent changes: cortana still runs with what it had.
    cortana = await ok_json(await client.get("/agent/cortana"))
    assert cortana["descriptor"]["provider"] == "other"
    assert (await ok_json(await client.post("/agent/off/reload")))["agent"]["status"] == "Idle"
    added = await ok_json(await client.post("/agent/nova/reload"))
    assert added["added"] is True
    audit = await ok_json(await client.get("/audit-log?action=agent.reload"))
    assert {r["target"] for r in audit["items"]} == {"agent:aman", "agent:off", "agent:nova"}


async def test_invalid_reload_is_400_naming_the_key_and_keeps_the_old_agent(
        file_app: tuple[Quart, Path], runtime_dir: Path) -> None:
    app, config_path = file_app
    client = app.test_client()
    write_config(config_path, runtime_dir, {"aman": {"temperature": 9}})
    body = await ok_json(await client.post("/agent/aman/reload"), 400)
    assert body["error"]["code"] == "invalid_config"
    assert "agents.aman.temperature" in body["error"]["message"]
    assert "keeps running" in body["error"]["hint"]
    write_config(config_path, runtime_dir, {"aman": {"soul": "nowhere"}})
    body = await ok_json(await client.post("/agent/aman/reload"), 400)
    assert "agents.aman.soul" in body["error"]["message"]
    aman = await ok_json(await client.get("/agent/aman"))
    assert aman["descriptor"]["display_name"] == "Aman" and aman["status"] == "Idle"


async def test_reload_of_an_agent_gone_from_the_file_removes_it(
        file_app: tuple[Quart, Path], runtime_dir: Path) -> None:
    app, config_path = file_app
    client = app.test_client()
    write_config(config_path, runtime_dir, {"aman": {}})
    body = await ok_json(await client.post("/agent/cortana/reload"))
    assert body["removed"] is True and body["agent"] is None
    assert (await client.get("/agent/cortana")).status_code == 404
    missing = await ok_json(await client.post("/agent/zed/reload"), 404)
    assert missing["error"]["code"] == "agent_not_found"
