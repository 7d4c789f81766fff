"""The soul routes through the app's test client, over a temporary souls folder."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.soul.format import content_hash
from tests.helpers import SettingsFactory, runtime_of, wait_for

if TYPE_CHECKING:  # a module-level name starting with "Test" would be collected by pytest
    from quart.typing import TestClientProtocol

DEFAULT_SOUL = Path(__file__).resolve().parents[2] / "souls" / "default.md"
NEW_SOUL = "# Nova\n## identity\nA tidy helper.\n## boundaries\n- never open the garage\n"


@pytest.fixture
def souls_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "souls"
    folder.mkdir()
    shutil.copy(DEFAULT_SOUL, folder / "default.md")
    return folder


@pytest.fixture
async def app(make_settings: SettingsFactory, souls_dir: Path) -> AsyncIterator[Quart]:
    application = create_app(make_settings(souls__dirs=[str(souls_dir)]))
    async with application.test_app():
        await wait_for(lambda: runtime_of(application).ready)
        yield application


async def get_json(client: TestClientProtocol, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, await response.get_json()
    return await response.get_json()


async def test_info_raw_and_prompt(client: TestClientProtocol, souls_dir: Path) -> None:
    info = await get_json(client, "/soul/info")
    assert info["name"] == "Aman" and info["path"] == str(souls_dir / "default.md")
    assert info["boundaries_count"] == 5 and info["error"] is None
    assert "boundaries" in info["sections"] and isinstance(info["last_changed"], int)
    raw = await get_json(client, "/soul/raw")
    assert raw["content"] == DEFAULT_SOUL.read_text(encoding="utf-8")
    prompt = await get_json(client, "/soul/system-prompt")
    assert prompt["soul"] == "Aman" and prompt["prompt"].startswith("You are Aman.")
    assert isinstance(prompt["skills_count"], int)


async def test_update_round_trip_with_history_audit_and_event(app: Quart,
                                                              client: TestClientProtocol,
                                                              souls_dir: Path) -> None:
    runtime = runtime_of(app)
    seen: list[Event] = []

    async def capture(event: Event) -> None:
        seen.append(event)

    runtime.bus.subscribe("test", capture, EventFilter(event_types=frozenset({"soul_changed"})))
    response = await client.post("/soul/update", json={"content": NEW_SOUL},
                                 headers={"x-aman-operator": "carol"})
    assert response.status_code == 200, await response.get_json()
    body = await response.get_json()
    assert body["changed"] is True and body["name"] == "Nova"
    assert (souls_dir / "default.md").read_text(encoding="utf-8") == NEW_SOUL
    assert (await get_json(client, "/soul/raw"))["content"] == NEW_SOUL
    versions = (await get_json(client, "/soul/versions"))["items"]
    assert [v["hash"] for v in versions] == [content_hash(NEW_SOUL),
                                              content_hash(DEFAULT_SOUL.read_text(encoding="utf-8"))]
    assert versions[0]["operator"] == "carol" and "content" not in versions[0]
    with_content = (await get_json(client, "/soul/versions?limit=1&content=true"))["items"]
    assert len(with_content) == 1 and with_content[0]["content"] == NEW_SOUL
    audit = (await get_json(client, "/audit-log?action=soul.update"))["items"]
    assert len(audit) == 1 and audit[0]["operator"] == "carol"
    assert audit[0]["detail"]["new_hash"] == content_hash(NEW_SOUL)
    await wait_for(lambda: len(seen) == 1)
    assert seen[0].payload["name"] == "Nova" and seen[0].source == "system:soul"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body.content"),
    ({"content": ""}, "body.content"),
    ({"content": 5}, "body.content"),
    ({"content": "x", "extra": 1}, "body.extra"),
    ({"content": "# A\n## vibe\nchill\n"}, "body.content"),
    ({"content": "# A\n## core\nok\n##oops\n"}, "body.content line 4"),
])
async def test_bad_update_is_400_and_changes_nothing(client: TestClientProtocol, souls_dir: Path,
                                                     body: dict[str, Any], field: str) -> None:
    before = (souls_dir / "default.md").read_bytes()
    response = await client.post("/soul/update", json=body)
    assert response.status_code == 400
    error = (await response.get_json())["error"]
    assert field in error["message"]
    assert (souls_dir / "default.md").read_bytes() == before
    assert len((await get_json(client, "/soul/versions"))["items"]) == 1


async def test_versions_query_is_validated(client: TestClientProtocol) -> None:
    response = await client.get("/soul/versions?limit=0")
    assert response.status_code == 400
    assert "query.limit" in (await response.get_json())["error"]["message"]


async def test_missing_active_soul_fails_boot_naming_the_file(make_settings: SettingsFactory,
                                                              tmp_path: Path) -> None:
    application = create_app(make_settings(souls__dirs=[str(tmp_path)], souls__active="ghost"))
    async with application.test_app():
        runtime = runtime_of(application)
        await wait_for(lambda: runtime.state.value == "failed")
        failure = runtime.phases.failure
        assert failure is not None and failure.step == "soul"
        assert str(tmp_path / "ghost.md") in failure.error


async def test_system_prompt_lists_llm_visible_skills(make_settings: SettingsFactory,
                                                      souls_dir: Path,
                                                      tmp_path: Path) -> None:
    skills = tmp_path / "skills" / "weather"
    skills.mkdir(parents=True)
    (skills / "SKILL.md").write_text(
        "---\nname: weather\ndescription: Local forecasts\ntriggers: [weather, forecast]\n---\n"
        "Look the forecast up.\n", encoding="utf-8")
    application = create_app(make_settings(souls__dirs=[str(souls_dir)],
                                           skills__dirs=[str(tmp_path / "skills")]))
    async with application.test_app():
        await wait_for(lambda: runtime_of(application).ready)
        prompt = await get_json(application.test_client(), "/soul/system-prompt")
    assert prompt["skills_count"] == 1
    assert prompt["prompt"].rstrip().endswith(
        "- weather: Local forecasts (when: weather, forecast) "
        f"[read: {tmp_path / 'skills' / 'weather' / 'SKILL.md'}]")
