"""Skills and a soul written for other agent runtimes, used unchanged by the real daemon.

The fixtures under ``tests/fixtures/peers`` follow the peers' published formats: a SKILL.md with
only ``name`` and ``description``, one whose description is over 1 024 characters, skills with
OpenClaw, Hermes and nanobot metadata blocks, one hidden from the model, and a SOUL.md kept in a
workspace of its own, given to ``souls.active`` by its absolute path.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, StartDaemon
from tests.helpers import wait_for_sync
from tests.llm.fakes import FakeOpenAIServer, Reply

pytestmark = pytest.mark.e2e

PEERS = Path(__file__).resolve().parents[1] / "fixtures" / "peers"
MODEL_VISIBLE = ["api-guide", "daily-journal", "git-digest", "pdf-forms", "weather"]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


@pytest.fixture
def peer_daemon(start_daemon: StartDaemon, tmp_path: Path,
                server: FakeOpenAIServer) -> tuple[Daemon, Path, Path]:
    skills = tmp_path / "peer-skills"
    shutil.copytree(PEERS / "skills", skills)
    workspace = tmp_path / "other-runtime" / "workspace"
    shutil.copytree(PEERS / "workspace", workspace)
    soul = workspace / "SOUL.md"
    provider = {"kind": "openai", "base_url": server.url, "api_key": "k", "model": "fake-model",
                "max_retries": 0}
    daemon = start_daemon(extra_config={
        "skills": {"dirs": [str(skills)]},
        "souls": {"active": str(soul)},
        "llm": {"default_provider": "o", "providers": {"o": provider}},
        "agents": {"aman": {}, "forecaster": {"skills": ["weather"]}},
    })
    return daemon, skills, soul


def chat_system_prompt(daemon: Daemon, server: FakeOpenAIServer, agent_id: str) -> str:
    """Send one message as ``agent_id`` and return the system prompt its model received."""
    server.script(Reply(text="ok"))
    created = daemon.client.post("/chat/session/create", json={"agent_id": agent_id})
    assert created.status_code == 201, created.text
    sent = daemon.client.post(f"/chat/session/{created.json()['id']}/send",
                              json={"text": "hello", "wait": True})
    assert sent.status_code == 200, sent.text
    body: dict[str, Any] = server.completions[-1].body
    return str(body["messages"][0]["content"])


def test_peer_skills_and_soul_load_and_reach_the_model(peer_daemon: tuple[Daemon, Path, Path],
                                                       server: FakeOpenAIServer) -> None:
    daemon, skills, soul = peer_daemon
    listed = {s["name"]: s for s in daemon.client.get("/skills").json()["items"]}
    assert sorted(listed) == sorted([*MODEL_VISIBLE, "secret-maker"])
    assert all(s["status"] == "ok" for s in listed.values()), listed

    # A description over 1 024 characters loads, with a warning instead of an error.
    long = listed["api-guide"]
    assert len(long["description"]) > 1024
    assert "1024" in long["warnings"][0] and "error" not in long

    # Every valid skill without disable-model-invocation is in the index, with its file.
    index = daemon.client.get("/llm-skills").json()["items"]
    assert [s["name"] for s in index] == MODEL_VISIBLE
    assert {s["name"]: s["path"] for s in index}["pdf-forms"] == str(
        skills / "pdf-forms" / "SKILL.md")

    # The soul is the file given by its absolute path; the prompt lists every visible skill.
    info = daemon.client.get("/soul/info").json()
    assert info["path"] == str(soul) and info["name"] == "Wren"
    prompt = daemon.client.get("/soul/system-prompt").json()
    assert prompt["skills_count"] == len(MODEL_VISIBLE)
    text = prompt["prompt"]
    assert text.startswith("You are Wren.") and "Be genuinely useful" in text
    for name in MODEL_VISIBLE:
        assert f"- {name}: " in text
    assert "secret-maker" not in text
    assert f"[read: {skills / 'weather' / 'SKILL.md'}]" in text
    api_line = next(line for line in text.splitlines() if line.startswith("- api-guide: "))
    assert long["description"] not in api_line and "\u2026" in api_line
    assert len(api_line.split(": ", 1)[1].split(" [read: ")[0]) <= 1024

    # The default agent's model sees them all; an agent limited to [weather] sees only weather.
    everything = chat_system_prompt(daemon, server, "aman")
    assert all(f"- {name}: " in everything for name in MODEL_VISIBLE)
    limited = chat_system_prompt(daemon, server, "forecaster")
    assert "- weather: " in limited
    assert not any(f"- {name}: " in limited for name in MODEL_VISIBLE if name != "weather")
    assert limited.startswith("You are Wren.")


def test_a_soul_given_by_path_is_watched_where_it_is(
        peer_daemon: tuple[Daemon, Path, Path]) -> None:
    daemon, _, soul = peer_daemon
    soul.write_text(soul.read_text(encoding="utf-8").replace("# Wren", "# Robin"),
                    encoding="utf-8")
    wait_for_sync(lambda: daemon.client.get("/soul/info").json()["name"] == "Robin", 15,
                  what="the edited soul file to be reloaded")
