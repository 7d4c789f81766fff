"""Event-source routes through a served app: list, pause/resume, configure, 404, aliases, audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from aman.core.app import create_app
from tests.helpers import SettingsFactory, runtime_of, wait_for

DEADLINE_SEC = 5.0


@pytest.fixture
async def app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    settings = make_settings(**{"sources.timers": [{"id": "t1", "interval_ms": 200}]})
    application = create_app(settings)
    async with application.test_app():
        await wait_for(lambda: runtime_of(application).ready)
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


async def ticks(client: Client) -> list[dict[str, Any]]:
    """Timer events of t1 in /events/recent, newest first."""
    items = (await (await client.get("/events/recent?limit=1000")).get_json())["items"]
    return [e for e in items if e["source"] == "timer:t1"]


async def until_ticks(client: Client, more_than: int) -> list[dict[str, Any]]:
    async def more() -> list[dict[str, Any]]:
        found = await ticks(client)
        return found if len(found) > more_than else []

    return await wait_for(more, DEADLINE_SEC, what=f"more than {more_than} tick(s)")


async def suppressed(client: Client) -> int:
    """Ticks t1 skipped while paused (its health counter)."""
    items = (await (await client.get("/event-sources")).get_json())["items"]
    return int(items[0]["health"]["suppressed_while_paused"])


async def test_list_shows_id_type_state_health_and_config(client: Client) -> None:
    body = await (await client.get("/event-sources")).get_json()
    assert [(s["id"], s["type"], s["state"]) for s in body["items"]] == [("t1", "timer", "running")]
    source = body["items"][0]
    assert source["health"]["status"] == "ok" and source["config"] == {"interval_ms": 200}


async def test_ticks_arrive_on_the_bus(client: Client) -> None:
    found = await until_ticks(client, 0)
    assert found[-1]["event_type"] == "timer_tick" and found[-1]["payload"] == {"tick": 1}
    assert found[-1]["priority"] == "low" and found[-1]["delivery"] == "at_most_once"


@pytest.mark.parametrize("prefix", ["/event-source", "/source"])
async def test_pause_stops_events_and_resume_brings_them_back(
    app: Quart, client: Client, prefix: str
) -> None:
    await until_ticks(client, 0)
    paused = await client.post(f"{prefix}/t1/pause")
    assert paused.status_code == 200 and (await paused.get_json())["state"] == "paused"
    again = await client.post(f"{prefix}/t1/pause")  # idempotent
    assert again.status_code == 200 and (await again.get_json())["state"] == "paused"
    runtime = runtime_of(app)

    async def landed() -> int:  # every tick published so far, stored
        await runtime.bus.wait_idle()
        await runtime.writer.flush()
        return len(await ticks(client))

    async def skipped(more_than: int) -> int:
        found = await suppressed(client)
        return found if found > more_than else 0

    # Once the timer skipped a tick, any tick it was emitting before the pause is in the bus.
    first = await wait_for(lambda: skipped(0), what="a tick skipped while paused")
    count = await landed()
    await wait_for(lambda: skipped(first + 2), what="three more intervals while paused")
    assert await landed() == count
    listed = (await (await client.get("/event-sources")).get_json())["items"][0]
    assert listed["state"] == "paused"
    resumed = await client.post(f"{prefix}/t1/resume")
    assert resumed.status_code == 200 and (await resumed.get_json())["state"] == "running"
    await until_ticks(client, count)


@pytest.mark.parametrize("prefix", ["/event-source", "/source"])
async def test_config_update_applies_and_bad_config_is_a_400_naming_the_field(
    client: Client, prefix: str
) -> None:
    changed = await client.put(f"{prefix}/t1/config", json={"interval_ms": 60_000})
    assert changed.status_code == 200
    assert (await changed.get_json())["config"] == {"interval_ms": 60_000}
    bad = await client.put(f"{prefix}/t1/config", json={"interval_ms": 1})
    assert bad.status_code == 400
    error = (await bad.get_json())["error"]
    assert error["code"] == "validation_error" and "config.interval_ms" in error["message"]
    unknown = await client.put(f"{prefix}/t1/config", json={"every": 5})
    assert unknown.status_code == 400
    assert "config.every" in (await unknown.get_json())["error"]["message"]
    not_object = await client.put(f"{prefix}/t1/config", json=[1])
    assert not_object.status_code == 400
    listed = (await (await client.get("/event-sources")).get_json())["items"][0]
    assert listed["config"] == {"interval_ms": 60_000} and listed["state"] == "running"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/event-source/nope/pause"), ("POST", "/source/nope/resume"),
     ("PUT", "/event-source/nope/config"), ("PUT", "/source/nope/config")],
)
async def test_unknown_source_is_a_404_with_a_hint(client: Client, method: str, path: str) -> None:
    response = await client.open(path, method=method, json={})
    assert response.status_code == 404
    error = (await response.get_json())["error"]
    assert error["code"] == "not_found" and "nope" in error["message"]
    assert error["hint"] == "GET /event-sources lists them."


async def test_every_change_is_audited(client: Client) -> None:
    await client.post("/event-source/t1/pause", headers={"x-aman-operator": "alice"})
    await client.post("/source/t1/resume")
    await client.put("/event-source/t1/config", json={"interval_ms": 500})
    await client.put("/source/t1/config", json={"interval_ms": 0})
    items = (await (await client.get("/audit-log?action=source.*")).get_json())["items"]
    seen = [(r["action"], r["target"], r["outcome"]) for r in reversed(items)]
    assert seen == [
        ("source.pause", "source:t1", "ok"),
        ("source.resume", "source:t1", "ok"),
        ("source.config", "source:t1", "ok"),
        ("source.config", "source:t1", "rejected"),
    ]
    pause = items[-1]
    assert pause["operator"] == "alice" and pause["detail"]["state_before"] == "running"
    config = items[1]
    assert config["detail"]["before"] == {"interval_ms": 200}
    assert config["detail"]["after"] == {"interval_ms": 500}


async def test_a_missing_watch_path_fails_that_source_but_not_boot(
    make_settings: SettingsFactory, tmp_path: Any
) -> None:
    missing = tmp_path / "absent"
    settings = make_settings(**{
        "sources.file_watch": [{"id": "docs", "paths": [str(missing)]}],
        "sources.timers": [{"id": "t1", "interval_ms": 200}],
    })
    application = create_app(settings)
    async with application.test_app():
        await wait_for(lambda: runtime_of(application).ready)
        client = application.test_client()
        items = (await (await client.get("/event-sources")).get_json())["items"]
        states = {s["id"]: (s["state"], s["health"]["status"]) for s in items}
        assert states == {"docs": ("failed", "failed"), "t1": ("running", "ok")}
        docs = next(s for s in items if s["id"] == "docs")
        assert str(missing) in docs["health"]["detail"]
        await until_ticks(client, 0)


async def test_sources_stop_first_and_come_back_after_a_restart(app: Quart, client: Client) -> None:
    runtime = runtime_of(app)
    started = [name for name in runtime._stack.names if not name.startswith("leave phase")]
    assert started[-1] == "event_sources"  # so it unwinds first
    await client.post("/event-source/t1/pause")
    stopped = await client.post("/agent/shutdown", headers={"x-aman-confirm": "yes"})
    assert stopped.status_code == 200 and runtime.sources.list() == []
    assert (await client.post("/agent/start")).status_code == 200
    listed = (await (await client.get("/event-sources")).get_json())["items"]
    assert [(s["id"], s["state"]) for s in listed] == [("t1", "running")]  # fresh from settings
