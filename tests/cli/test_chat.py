"""``aman`` on a pseudo-terminal against a real daemon: chat with the scripted provider, colour
and NO_COLOR, and "are you sure?" before a destructive command.

In chat the reply streams word by word (token_ms), so the test sees the first words on the
terminal while the daemon still holds the reply as ``streaming``; an approval is answered with
``y`` at the inline prompt; Ctrl-C stops the running reply; Ctrl-C at the prompt leaves (exit 0).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.e2e.daemons import REPO_ROOT, Daemon, StartDaemon, aman_command, clean_env
from tests.helpers import wait_for_sync

pytestmark = pytest.mark.e2e

TIMEOUT_SEC = 30
WRITE = json.dumps({"tool_calls": [{"name": "write",
                                    "arguments": {"path": "notes.md", "content": "hello"}}]})
LONG = " ".join(f"word{i}" for i in range(200))


def chat(daemon: Daemon, *args: str) -> pexpect.spawn:
    command = aman_command("chat", "--url", daemon.base_url, *args)
    child = pexpect.spawn(command[0], command[1:], cwd=str(REPO_ROOT),
                          env=clean_env(NO_COLOR="1", TERM="dumb"), encoding="utf-8",
                          timeout=TIMEOUT_SEC, dimensions=(24, 80))
    child.expect("you> ")
    return child


@pytest.fixture
def chat_daemon(start_daemon: StartDaemon, tmp_path: Path) -> Iterator[Daemon]:
    yield start_daemon(extra_config={
        "llm": {"default_provider": "s", "providers": {"s": {
            "kind": "scripted", "token_ms": 60,
            "replies": [WRITE, "Saved: {tool_result}", f"Long story: {LONG}"]}}},
        "tools": {"workspace_dir": str(tmp_path / "ws")}})


def messages(daemon: Daemon) -> list[dict[str, Any]]:
    session = daemon.client.get("/chat/sessions").json()["items"][0]
    return list(daemon.client.get(f"/chat/session/{session['id']}/state").json()["messages"])


def test_chat_streams_asks_approval_and_ctrl_c_stops(chat_daemon: Daemon, tmp_path: Path) -> None:
    child = chat(chat_daemon)
    try:
        # 1. A tool call is one line, then the approval is asked inline and answered with y.
        child.sendline("save a note")
        child.expect(r"-> write path='notes\.md'")
        child.expect(r"\[y\]es / \[n\]o / \[s\]ession: ")
        assert not (tmp_path / "ws" / "notes.md").exists()
        child.sendline("y")
        child.expect("write approved")
        child.expect("Saved: ")
        child.expect("you> ")
        assert (tmp_path / "ws" / "notes.md").read_text() == "hello"
        assert messages(chat_daemon)[-1]["status"] == "complete"

        # 2. Streaming: the first words are on screen while the daemon is still generating.
        child.sendline("tell me a long story")
        child.expect("word3 ")
        assert messages(chat_daemon)[-1]["status"] == "streaming"

        # 3. Ctrl-C stops that turn; the reply is kept as interrupted, back at the prompt.
        child.sendintr()
        child.expect(r"\[stopped\]")
        child.expect("you> ")
        last = wait_for_sync(lambda: (m := messages(chat_daemon)[-1])["status"] != "streaming"
                             and m, TIMEOUT_SEC, what="the stopped reply to be kept")
        assert last["status"] == "interrupted" and "word199" not in last["content"]

        # 4. Ctrl-C at the prompt leaves.
        child.sendintr()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_chat_commands_switch_and_new(chat_daemon: Daemon) -> None:
    first = chat_daemon.client.post("/chat/session/create", json={"title": "older"}).json()["id"]
    child = chat(chat_daemon)
    try:
        child.sendline("/sessions")
        child.expect(first)
        child.expect("you> ")
        child.sendline(f"/switch {first}")
        child.expect(f"session {first}")
        child.expect("you> ")
        child.sendline("/new")
        child.expect(r"session (\S+) with agent")
        created = child.match.group(1)
        assert created != first
        child.expect("you> ")
        child.sendline("/nonsense")
        child.expect("unknown command")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_arrow_up_brings_back_the_last_line(chat_daemon: Daemon) -> None:
    child = chat(chat_daemon)
    try:
        child.sendline("/sessions")
        child.expect("MESSAGE_COUNT")
        child.expect("you> ")
        child.send("\x1b[A")  # arrow up: the previous line, from readline's history
        child.send("\r")
        child.expect("MESSAGE_COUNT")
        child.expect("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def run_on_terminal(daemon: Daemon, *args: str, **env: str) -> pexpect.spawn:
    command = aman_command(*args, "--url", daemon.base_url)
    return pexpect.spawn(command[0], command[1:], cwd=str(REPO_ROOT),
                         env=clean_env(TERM="xterm", **env), encoding="utf-8",
                         timeout=TIMEOUT_SEC, dimensions=(24, 80))


def test_colour_on_a_terminal_unless_no_color(chat_daemon: Daemon) -> None:
    coloured = run_on_terminal(chat_daemon, "plugins", "ls")
    coloured.expect(pexpect.EOF)
    assert "\x1b[1m" in coloured.before  # the bold header
    plain = run_on_terminal(chat_daemon, "plugins", "ls", NO_COLOR="1")
    plain.expect(pexpect.EOF)
    assert "\x1b[" not in plain.before and "NAME" in plain.before


def test_destructive_commands_ask_on_a_terminal(chat_daemon: Daemon) -> None:
    key = "event_bus.max_queue_size"
    declined = run_on_terminal(chat_daemon, "config", "set", key, "3456")
    declined.expect(r"are you sure\? \[y/N\]: ")
    declined.sendline("n")
    declined.expect(pexpect.EOF)
    declined.close()
    assert declined.exitstatus == 1 and "cancelled" in declined.before
    accepted = run_on_terminal(chat_daemon, "config", "set", key, "3456")
    accepted.expect(r"are you sure\? \[y/N\]: ")
    accepted.sendline("y")
    accepted.expect(pexpect.EOF)
    accepted.close()
    assert accepted.exitstatus == 0
    keys = chat_daemon.client.get("/config/live-keys").json()["keys"]
    assert {k["key"]: k["value"] for k in keys}[key] == 3456


def test_edit_and_retry_from_the_prompt(start_daemon: StartDaemon) -> None:
    daemon = start_daemon(extra_config={"llm": {"default_provider": "s", "providers": {
        "s": {"kind": "scripted"}}}})  # replies "You said: <the message>"
    child = chat(daemon)
    try:
        child.sendline("first try")
        child.expect("You said: first try")
        child.expect("you> ")
        child.sendline("/edit second try")
        child.expect("You said: second try")
        child.expect("you> ")
        child.sendline("/retry")
        child.expect("You said: second try")
        child.expect("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    visible = [(m["role"], m["content"]) for m in messages(daemon)]
    assert visible == [("user", "second try"), ("assistant", "You said: second try")]
    session = daemon.client.get("/chat/sessions").json()["items"][0]["id"]
    everything = daemon.client.get(f"/chat/session/{session}/history",
                                   params={"all": "true"}).json()["items"]
    assert sum(m["status"] == "superseded" for m in everything) == 3
