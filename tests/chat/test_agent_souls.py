"""An agent whose ``soul`` names another soul talks with that soul: its persona is the system
prompt and its boundaries guard its messages; edits are picked up, broken edits keep the last
good one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aman.config.settings import Settings
from aman.core.app import create_app
from tests.chat.helpers import settle
from tests.helpers import SettingsFactory, runtime_of, wait_for
from tests.llm.fakes import FakeOpenAIServer

PIRATE = """# Captain

## identity
A pirate captain who answers in sea shanties.

## boundaries
- never talk about the treasure map
"""


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def souls(tmp_path: Path) -> Path:
    folder = tmp_path / "souls"
    folder.mkdir()
    (folder / "pirate.md").write_text(PIRATE)
    return folder


def settings_for(make_settings: SettingsFactory, server: FakeOpenAIServer, souls: Path) -> Settings:
    repo_souls = Path(__file__).resolve().parents[2] / "souls"
    provider = {"kind": "openai", "base_url": server.url, "api_key": "k", "model": "fake-model",
                "max_retries": 0}
    return make_settings(**{
        "llm.providers": {"o": provider}, "llm.default_provider": "o",
        "souls.dirs": [str(repo_souls), str(souls)],
        "agents": {"aman": {}, "captain": {"soul": "pirate"}}})


def system_prompt_of(server: FakeOpenAIServer) -> str:
    messages: list[dict[str, Any]] = server.requests[-1].body["messages"]
    return str(messages[0]["content"])


async def test_each_agent_talks_with_its_own_soul(make_settings: SettingsFactory,
                                                  server: FakeOpenAIServer, souls: Path) -> None:
    app = create_app(settings_for(make_settings, server, souls))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        client = app.test_client()
        for agent, persona in (("captain", "pirate captain"), ("aman", "personal agent")):
            created = await client.post("/chat/session/create", json={"agent_id": agent})
            session = (await created.get_json())["id"]
            sent = await client.post(f"/chat/session/{session}/send", json={"text": "hi"})
            assert sent.status_code == 202
            await settle(client, session)
            assert persona in system_prompt_of(server)

        captain = (await (await client.post("/chat/session/create",
                                            json={"agent_id": "captain"})).get_json())["id"]
        text = {"text": "let us talk about the treasure map"}
        refused = await client.post(f"/chat/session/{captain}/send", json=text)
        assert refused.status_code == 403
        assert (await refused.get_json())["error"]["code"] == "soul_boundary"
        accepted = await client.post(f"/chat/session/{session}/send", json=text)
        assert accepted.status_code == 202  # aman's soul has no such boundary
        await settle(client, session)

        (souls / "pirate.md").write_text(PIRATE.replace("sea shanties", "haiku"))
        await client.post(f"/chat/session/{captain}/send", json={"text": "again"})
        await settle(client, captain)
        assert "haiku" in system_prompt_of(server)

        (souls / "pirate.md").write_text("no heading, not a soul")
        await client.post(f"/chat/session/{captain}/send", json={"text": "and again"})
        state = await settle(client, captain)
        assert state["messages"][-1]["status"] == "complete"
        assert "haiku" in system_prompt_of(server)  # the last good version
