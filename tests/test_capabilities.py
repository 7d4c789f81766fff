"""Capabilities through a real app.

Core features, IM channels, plugins, live health, change events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from quart import Quart

from aman.capabilities import Capability, plugin_entries
from aman.config.settings import Settings
from aman.core.app import create_app
from aman.core.runtime import Runtime
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.llm.fakes import FakeOpenAIServer, fail

if TYPE_CHECKING:
    from quart.typing import TestClientProtocol

CONFIRM = {"x-aman-confirm": "yes"}
CORE = {"chat", "llm", "tools", "workflows", "cron", "explore"}

GAUGES = '''
from pathlib import Path

from aman.plugins.api import hookimpl

STATUS = Path(__file__).with_name("status.txt")


@hookimpl
async def register_capabilities(context):
    status = STATUS.read_text().strip()
    if status == "raise":
        raise RuntimeError("the gauge broke")
    return [{"capability": "gauges", "status": status}, "chat"]
'''

BROKEN = '''
from aman.plugins.api import hookimpl


@hookimpl
def register_capabilities(context):
    raise RuntimeError("never works")
'''


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[Quart]:
    app = create_app(settings)
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready or runtime_of(app).state.value == "failed")
        assert runtime_of(app).ready, runtime_of(app).phases.failure
        yield app


async def capabilities(client: TestClientProtocol) -> dict[str, list[dict[str, str]]]:
    response = await client.get("/capabilities")
    assert response.status_code == 200
    return dict(await response.get_json())


def status(found: dict[str, list[dict[str, str]]], name: str, plugin: str = "core") -> str:
    return next(e["status"] for e in found[name] if e["plugin"] == plugin)


async def facts(rt: Runtime, client: TestClientProtocol, event_type: str) -> list[dict[str, Any]]:
    """Payloads of ``event_type`` in the event log, oldest first."""
    await rt.bus.wait_idle()
    await rt.writer.flush()
    response = await client.get("/events/recent?limit=1000")
    items = (await response.get_json())["items"]
    return [e["payload"] for e in sorted(items, key=lambda e: e["seq"])
            if e["event_type"] == event_type]


async def wait_status(client: TestClientProtocol, name: str, wanted: str,
                      plugin: str = "core") -> None:
    found: dict[str, Any] = {}

    async def check() -> bool:
        found.update(await capabilities(client))
        return name in found and status(found, name, plugin) == wanted

    await wait_for(check, what=f"{name} to become {wanted}")


# --- core features and channels --------------------------------------------------------------


async def test_core_features_and_channels_are_listed_and_announced(
        make_settings: SettingsFactory) -> None:
    settings = make_settings(
        channels={"telegram": {"mybot": {"secret": "s"}},
                  "generic": {"off": {"secret": "s", "enabled": False}}},
        info_hub__sources=["http://127.0.0.1:9/feed.xml"])
    async with served(settings) as app:
        client, rt = app.test_client(), runtime_of(app)
        found = await capabilities(client)
        assert set(found) == CORE | {"im:telegram:mybot", "im:generic:off"}
        assert found["chat"] == [{"capability": "chat", "plugin": "core",
                                  "version": rt.version, "status": "healthy"}]
        assert status(found, "explore") == "healthy"  # a source is configured
        assert found["im:telegram:mybot"][0]["plugin"] == "core-channels"
        assert status(found, "im:telegram:mybot", "core-channels") == "healthy"
        assert status(found, "im:generic:off", "core-channels") == "error"  # disabled

        # The boot step announced the whole first snapshot, once.
        updates = await facts(rt, client, "capability_registry_updated")
        assert len(updates) == 1
        assert updates[0]["added"] == sorted(found) == updates[0]["available"]
        assert updates[0]["removed"] == [] and updates[0]["changed"] == []
        available = await facts(rt, client, "capability_available")
        assert sorted(p["capability"] for p in available) == sorted(found)
        types = {t["event_type"]: t["owner"]
                 for t in (await (await client.get("/events/types")).get_json())["items"]}
        assert types["capability_registry_updated"] == "capabilities"

        # A GET with nothing changed announces nothing.
        await capabilities(client)
        assert len(await facts(rt, client, "capability_registry_updated")) == 1


async def test_explore_without_sources_is_error(make_settings: SettingsFactory) -> None:
    async with served(make_settings()) as app:
        assert status(await capabilities(app.test_client()), "explore") == "error"


async def test_a_channel_whose_last_send_failed_is_degraded(make_settings: SettingsFactory) -> None:
    settings = make_settings(channels={"telegram": {"mybot": {"secret": "s"}}})
    async with served(settings) as app:
        client, rt = app.test_client(), runtime_of(app)
        name = "im:telegram:mybot"
        # The outbound sender's facts (aman/channels/outbox.py) carry the channel.
        rt.bus.emit("im:delivery_failed", {"platform": "telegram", "instance": "mybot",
                                           "error": "HTTP 500"}, source="test")
        await wait_status(client, name, "degraded", "core-channels")
        update = (await facts(rt, client, "capability_registry_updated"))[-1]
        assert update["changed"] == [name] and update["added"] == update["removed"] == []
        # Another channel's failure changes nothing here.
        rt.bus.emit("im:delivery_failed", {"platform": "slack", "instance": "x"}, source="test")
        rt.bus.emit("im:delivered", {"platform": "telegram", "instance": "mybot"}, source="test")
        await wait_status(client, name, "healthy", "core-channels")
        assert len(await facts(rt, client, "capability_registry_updated")) == 3


async def test_a_live_config_change_is_announced(make_settings: SettingsFactory) -> None:
    settings = make_settings(channels={"telegram": {"mybot": {"secret": "s"}}})
    async with served(settings) as app:
        client, rt = app.test_client(), runtime_of(app)
        response = await client.post("/config/set", headers=CONFIRM,
                                     json={"changes": {"channels.telegram.mybot.enabled": False}})
        assert response.status_code == 200, await response.get_data(as_text=True)
        # No GET in between: config_changed on the bus is what triggers the recompute.
        await wait_for(lambda: any(
            e.status == "error" for e in rt.capabilities.snapshot.get("im:telegram:mybot", [])))
        update = (await facts(rt, client, "capability_registry_updated"))[-1]
        assert update["changed"] == ["im:telegram:mybot"]


async def test_empty_before_phase_2_and_answers_while_not_ready(
        make_settings: SettingsFactory) -> None:
    async with served(make_settings()) as app:
        client, rt = app.test_client(), runtime_of(app)
        await rt.stop()  # back to phase 0: the route still answers, with nothing
        response = await client.get("/capabilities")
        assert response.status_code == 200 and await response.get_json() == {}
        assert (await client.get("/skills")).status_code == 503  # a route that needs phase 5


# --- the LLM provider going down and coming back ---------------------------------------------


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


async def test_llm_down_degrades_chat_and_llm_until_it_recovers(
        make_settings: SettingsFactory, openai_server: FakeOpenAIServer) -> None:
    settings = make_settings(**{
        "llm.providers": {"primary": {"kind": "openai", "base_url": openai_server.url,
                                      "api_key": "k", "model": "fake-model",
                                      "max_retries": 0}},
        "llm.default_provider": "primary", "agents.aman.provider": "primary"})
    async with served(settings) as app:
        client, rt = app.test_client(), runtime_of(app)
        assert status(await capabilities(client), "chat") == "healthy"

        # Health probes against the real (fake) server fail: after three the backend is down.
        openai_server.models_reply = fail(500)
        for _ in range(3):
            await rt.llm.probe("primary")
        await wait_status(client, "chat", "degraded")
        found = await capabilities(client)
        assert status(found, "llm") == "degraded" and status(found, "tools") == "healthy"
        update = (await facts(rt, client, "capability_registry_updated"))[-1]
        assert update["changed"] == ["chat", "llm"]

        openai_server.models_reply = None
        await rt.llm.probe("primary")
        await wait_status(client, "chat", "healthy")
        assert status(await capabilities(client), "llm") == "healthy"
        assert (await facts(rt, client, "capability_registry_updated"))[-1]["changed"] == [
            "chat", "llm"]


async def test_no_provider_configured_is_error(make_settings: SettingsFactory) -> None:
    settings = make_settings(**{"llm.default_provider": "", "agents": {}})
    async with served(settings) as app:
        assert status(await capabilities(app.test_client()), "chat") == "error"


# --- plugins ---------------------------------------------------------------------------------


def write_plugin(folder: Path, name: str, version: str, code: str) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / "plugin.yaml").write_text(f"name: {name}\nversion: '{version}'\nmodule: {name}.py\n")
    (path / f"{name}.py").write_text(code)
    return path


async def test_hook_register_capabilities(make_settings: SettingsFactory, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    gauges = write_plugin(folder, "gauges", "2.1.0", GAUGES)
    (gauges / "status.txt").write_text("healthy")
    write_plugin(folder, "broken", "1.0.0", BROKEN)
    async with served(make_settings(plugins__dirs=[str(folder)])) as app:
        client, rt = app.test_client(), runtime_of(app)
        found = await capabilities(client)
        assert found["gauges"] == [{"capability": "gauges", "plugin": "gauges",
                                    "version": "2.1.0", "status": "healthy"}]
        assert [e["plugin"] for e in found["chat"]] == ["core", "gauges"]
        # The raising plugin contributes nothing; it stays enabled and the others are unharmed.
        assert not [e for entries in found.values() for e in entries if e["plugin"] == "broken"]
        assert "never works" in rt.capabilities.failures["broken"]
        plugins = {p["name"]: p for p in (await (await client.get("/plugins")).get_json())["items"]}
        assert plugins["broken"]["state"] == "enabled"

        # The plugin's own health changes: it asks for a recompute.
        (gauges / "status.txt").write_text("degraded")
        rt.capabilities.refresh()
        await wait_status(client, "gauges", "degraded", "gauges")
        update = (await facts(rt, client, "capability_registry_updated"))[-1]
        assert update["changed"] == ["gauges"] and update["added"] == update["removed"] == []

        # Its hook starts raising: its last entries are shown as error.
        (gauges / "status.txt").write_text("raise")
        await wait_status(client, "gauges", "error", "gauges")
        assert "the gauge broke" in rt.capabilities.failures["gauges"]

        # Disabled: it contributes nothing, and the removal is announced.
        (gauges / "status.txt").write_text("healthy")
        response = await client.post("/plugin/gauges/disable", headers=CONFIRM)
        assert response.status_code == 200
        # Disabling publishes no fact of its own: the next event on the bus gets it noticed.
        rt.bus.emit("test.ping", {}, source="test")
        await wait_for(lambda: "gauges" not in rt.capabilities.snapshot)
        found = await capabilities(client)
        assert "gauges" not in found and [e["plugin"] for e in found["chat"]] == ["core"]
        removed = await facts(rt, client, "capability_removed")
        assert {(p["capability"], p["plugin"]) for p in removed} == {
            ("gauges", "gauges"), ("chat", "gauges")}
        update = (await facts(rt, client, "capability_registry_updated"))[-1]
        assert update["removed"] == ["gauges"] and update["changed"] == ["chat"]

        # Enabled again: back, and announced as available.
        assert (await client.post("/plugin/gauges/enable")).status_code == 200
        await wait_status(client, "gauges", "healthy", "gauges")
        available = await facts(rt, client, "capability_available")
        assert {(p["capability"], p["plugin"]) for p in available[-2:]} == {
            ("gauges", "gauges"), ("chat", "gauges")}


def test_plugin_entries_are_validated() -> None:
    assert plugin_entries(["x", {"capability": "y", "status": "Degraded", "version": "9"},
                           Capability("z", "someone-else", "1", "error")], "p", "1.2") == [
        Capability("x", "p", "1.2"), Capability("y", "p", "9", "degraded"),
        Capability("z", "p", "1", "error")]
    with pytest.raises(ValueError, match="not one of healthy, degraded, error"):
        plugin_entries({"capability": "x", "status": "fine"}, "p", "1")
    with pytest.raises(ValueError, match="non-empty string"):
        plugin_entries({"status": "healthy"}, "p", "1")
    with pytest.raises(TypeError):
        plugin_entries(3, "p", "1")
