"""Usage and budgets through the real daemon: every model call is counted with its purpose and
cost, a spent daily budget skips background runs (with one notification) while chat answers, a
turn over its token budget stops, and a looping background turn is stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.daemons import Daemon, daemon_context
from tests.helpers import wait_for_sync
from tests.llm.fakes import FakeOpenAIServer, Reply

pytestmark = pytest.mark.e2e

LOOP_CALL = json.dumps({"tool_calls": [{"name": "list", "arguments": {"path": "."}}]})



def reply_of(daemon: Daemon, session_id: str) -> dict[str, Any]:
    """The session's last assistant message once it is final."""
    def final() -> dict[str, Any] | None:
        messages = daemon.client.get(f"/chat/session/{session_id}/state").json()["messages"]
        last = messages[-1] if messages else None
        if last and last["role"] == "assistant" and last["status"] != "streaming":
            return dict(last)
        return None
    return dict(wait_for_sync(final, what=f"a final reply in {session_id}"))


def chat(daemon: Daemon, text: str, agent_id: str | None = None) -> dict[str, Any]:
    session = daemon.client.post("/chat/session/create",
                                 json={"agent_id": agent_id} if agent_id else {}).json()
    sent = daemon.client.post(f"/chat/session/{session['id']}/send", json={"text": text})
    assert sent.status_code in (200, 202), sent.text
    return reply_of(daemon, session["id"])


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory,
           openai_server: FakeOpenAIServer) -> Iterator[Daemon]:
    config = {"llm": {"default_provider": "remote", "providers": {"remote": {
        "kind": "openai", "model": "gpt-test", "base_url": openai_server.url,
        "api_key": "sk-test", "max_retries": 0,
        "prices": {"input": 2.0, "output": 8.0}}}}}
    with daemon_context(tmp_path_factory.mktemp("priced"), extra_config=config) as running:
        yield running


def test_a_chat_turn_is_counted_with_the_providers_tokens_and_a_cost(
        priced: Daemon, openai_server: FakeOpenAIServer) -> None:
    openai_server.script(Reply("Counted reply.", usage=(1200, 300)))
    assert chat(priced, "count me")["status"] == "complete"
    by_purpose = priced.client.get("/usage", params={"group_by": "purpose"}).json()
    chat_row = next(g for g in by_purpose["groups"] if g["key"] == "chat")
    assert chat_row["input_tokens"] == 1200 and chat_row["output_tokens"] == 300
    assert chat_row["cost"] == pytest.approx((1200 * 2.0 + 300 * 8.0) / 1_000_000)
    by_model = priced.client.get("/usage", params={"group_by": "model"}).json()
    assert [g["key"] for g in by_model["groups"]] == ["gpt-test"]
    metrics = priced.client.get("/metrics").text
    sample = 'aman_usage_tokens_total{agent="aman",direction="input",purpose="chat"} 1200.0'
    assert sample in metrics
    bad = priced.client.get("/usage", params={"group_by": "colour"})
    assert bad.status_code == 400


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {
        "llm": {"default_provider": "s", "providers": {"s": {
            "kind": "scripted", "replies": ["A scripted answer of several words."]}}},
        "budgets": {"daily_tokens": 5,
                    "agents": {"looper": {"daily_tokens": 1_000_000},
                               "thrifty": {"max_turn_tokens": 10}}},
        "agents": {"aman": {"heartbeat": {"every": "1h", "target": "none"}},
                   "looper": {"provider": "l"}, "thrifty": {"provider": "l"}},
    }
    config["llm"]["providers"]["l"] = {"kind": "scripted", "replies": [LOOP_CALL]}
    workdir = tmp_path_factory.mktemp("budget")
    workspace = workdir / "workspace"
    workspace.mkdir()
    (workspace / "HEARTBEAT.md").write_text("- Is anything on fire?\n")
    config["tools"] = {"workspace_dir": str(workspace)}
    with daemon_context(workdir, extra_config=config) as running:
        yield running


def test_a_spent_budget_skips_background_runs_once_warned_while_chat_answers(
        budgeted: Daemon) -> None:
    first = budgeted.client.post("/idle-run", json={"tag": "fun"})
    assert first.status_code == 201, first.text
    assert reply_of(budgeted, first.json()["session_id"])["status"] == "complete"
    for _ in range(2):
        refused = budgeted.client.post("/idle-run", json={"tag": "fun"})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "budget_exhausted"
    notes = wait_for_sync(lambda: [n for n in budgeted.client.get("/notifications").json()["items"]
                              if n["category"] == "budget"], what="a budget notification")
    assert len(notes) == 1 and "aman" in notes[0]["title"]
    assert budgeted.client.post("/agents/aman/heartbeat/wake").status_code == 202
    tick = wait_for_sync(
        lambda: budgeted.client.get("/agents/aman/heartbeat/runs").json()["items"],
        what="a heartbeat tick")[0]
    assert tick["outcome"] == "skipped" and tick["reason"] == "budget_exhausted"
    assert chat(budgeted, "still there?")["status"] == "complete"
    spent = budgeted.client.get("/usage", params={"group_by": "purpose"}).json()["groups"]
    assert {g["key"] for g in spent} == {"idle", "chat"}


def test_a_turn_over_its_token_budget_stops(budgeted: Daemon) -> None:
    reply = chat(budgeted, "list it all", agent_id="thrifty")
    assert reply["status"] == "error" and reply["error"]["code"] == "budget_exceeded"


def test_a_looping_background_turn_is_stopped(budgeted: Daemon) -> None:
    run = budgeted.client.post("/idle-run", json={"tag": "fun", "agent_key": "looper"})
    assert run.status_code == 201, run.text
    reply = reply_of(budgeted, run.json()["session_id"])
    assert reply["status"] == "error" and reply["error"]["code"] == "loop_detected"
    assert len(reply["tool_steps"]) == 2  # the third identical call never ran
