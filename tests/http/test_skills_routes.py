"""Skill routes through the test client (a served app on a temporary skills folder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from aman.core.app import create_app
from tests.helpers import SettingsFactory, runtime_of, wait_for

CONFIRM = {"x-aman-confirm": "yes"}


def md(name: str, description: str, version: str, extra: str = "") -> str:
    header = f"name: {name}\ndescription: {description}\nversion: {version}\n{extra}"
    return f"---\n{header}---\nSteps.\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "skills"
    (path / "notes").mkdir(parents=True)
    (path / "notes" / "SKILL.md").write_text(
        md("notes", "Summarise meeting notes", "1.0.0",
           "triggers: [summarize]\ncategory: writing\n"),
        encoding="utf-8")
    (path / "hidden").mkdir()
    (path / "hidden" / "SKILL.md").write_text(
        md("hidden", "Secret helper", "1.0.0", "triggers: [x]\ndisable-model-invocation: true\n"),
        encoding="utf-8")
    (path / "broken.yaml").write_text("name: broken\nconcurrency: 7\n", encoding="utf-8")
    return path


@pytest.fixture
async def served(make_settings: SettingsFactory, folder: Path) -> AsyncIterator[Quart]:
    application = create_app(make_settings(**{"skills.dirs": [str(folder)]}))
    async with application.test_app() as test_app:
        rt = runtime_of(application)
        await wait_for(lambda: rt.ready)
        # Reloads are the test's own, so their counts are exact: no watch is left to race them.
        await rt.skills.watcher.stop()
        assert not rt.skills.watcher.running and not rt.skills.watcher.armed.is_set()
        yield test_app


async def test_listing_snapshot_content_and_llm_index(served: Quart, folder: Path) -> None:
    client = served.test_client()
    items = {i["name"]: i for i in (await (await client.get("/skills")).get_json())["items"]}
    assert set(items) == {"notes", "hidden", "broken"}
    assert items["notes"]["kind"] == "markdown" and items["notes"]["status"] == "ok"
    assert items["broken"]["status"] == "error" and items["broken"]["error"]["line"] == 2
    assert items["broken"]["kind"] == "event"
    llm = (await (await client.get("/llm-skills")).get_json())["items"]
    assert llm == [{"name": "notes", "description": "Summarise meeting notes",
                    "category": "writing", "triggers": ["summarize"],
                    "path": str(folder / "notes" / "SKILL.md")}]
    snap = await (await client.get("/skill/notes")).get_json()
    assert snap["body"] == "Steps.\n" and snap["metadata"] == {}
    content = await (await client.get("/skill/notes/content")).get_json()
    assert content["content"] == (folder / "notes" / "SKILL.md").read_text(encoding="utf-8")
    missing = await client.get("/skill/nope")
    body = await missing.get_json()
    assert missing.status_code == 404 and body["error"]["hint"]


async def test_search_validates_and_ranks(served: Quart) -> None:
    client = served.test_client()
    hits = (await (await client.get("/skills/search?q=meeting")).get_json())["items"]
    assert [h["name"] for h in hits] == ["notes"]
    for bad, field in (("q=", "query.q"), ("q=%20", "query.q"), ("q=a&limit=0", "query.limit"),
                       ("", "query.q"), ("q=a&x=1", "query.x")):
        response = await client.get(f"/skills/search?{bad}")
        assert response.status_code == 400, bad
        assert field in (await response.get_json())["error"]["message"], bad


async def test_enable_disable_are_audited(served: Quart) -> None:
    client = served.test_client()
    off = await client.post("/skill/notes/disable")
    assert off.status_code == 200 and (await off.get_json())["enabled"] is False
    assert (await (await client.get("/llm-skills")).get_json())["items"] == []
    assert (await client.post("/skill/notes/enable")).status_code == 200
    assert (await client.post("/skill/ghost/enable")).status_code == 404
    audit = (await (await client.get("/audit-log?action=skill.*")).get_json())["items"]
    assert {(a["action"], a["target"]) for a in audit} >= {
        ("skill.disable", "skill:notes"), ("skill.enable", "skill:notes")}


async def test_versions_and_rollback_need_confirmation(served: Quart, folder: Path) -> None:
    client = served.test_client()
    path = folder / "notes" / "SKILL.md"
    original = path.read_text(encoding="utf-8")
    path.write_text(md("notes", "Summarise notes v2", "2.0.0"), encoding="utf-8")
    assert (await (await client.post("/skills/reload")).get_json())["changed"] == 1
    versions = (await (await client.get("/skill/notes/versions")).get_json())["items"]
    assert [v["version"] for v in versions] == ["2.0.0", "1.0.0"]
    edited = path.read_text(encoding="utf-8")
    refused = await client.post("/skill/notes/rollback", json={"version": "1.0.0"})
    assert refused.status_code == 409
    assert path.read_text(encoding="utf-8") == edited
    for bad in ({}, {"version": "1.0.0", "hash": versions[1]["hash"]}, {"hash": "xyz"},
                {"version": "1", "extra": 1}):
        response = await client.post("/skill/notes/rollback", json=bad, headers=CONFIRM)
        assert response.status_code == 400, bad
    unknown = await client.post("/skill/notes/rollback", json={"version": "9"}, headers=CONFIRM)
    assert unknown.status_code == 404
    done = await client.post("/skill/notes/rollback", json={"hash": versions[1]["hash"]},
                             headers=CONFIRM)
    assert done.status_code == 200, await done.get_json()
    assert path.read_text(encoding="utf-8") == original
    snap = await (await client.get("/skill/notes")).get_json()
    assert snap["version"] == "1.0.0"
    audit = (await (await client.get("/audit-log?action=skill.rollback")).get_json())["items"]
    assert audit and audit[0]["target"] == "skill:notes"
