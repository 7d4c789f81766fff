"""The console across a daemon restart: the banner while down, then the missed events replayed."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Route, expect

from tests.e2e.daemons import TEST_TOKEN, StartDaemon
from tests.ui.console import OpenConsole, shoot

pytestmark = pytest.mark.e2e


def test_the_page_reconnects_after_a_restart_and_shows_missed_events(
        start_daemon: StartDaemon, open_console: OpenConsole) -> None:
    first = start_daemon(token=TEST_TOKEN)
    page = open_console(first, "#/events")
    expect(page.locator("#conn")).to_have_text("live")
    before = f"console.before.{time.time_ns()}"
    assert first.client.post("/events/push", headers=first.auth,
                             json={"source": "test:restart", "type": before}).status_code == 202
    page.wait_for_selector(f"tr[data-type='{before}']")

    held: list[Route] = []
    page.route("**/events/stream*", lambda route: held.append(route) or route.abort())
    first.stop()
    expect(page.locator("#banner")).to_be_visible()
    expect(page.locator("#conn")).to_have_text("disconnected")
    shoot(page, "disconnected")

    second = start_daemon(token=TEST_TOKEN, home=first.home, port=first.port)
    missed = f"console.missed.{time.time_ns()}"
    assert second.client.post("/events/push", headers=second.auth,
                              json={"source": "test:restart", "type": missed}).status_code == 202
    assert page.locator(f"tr[data-type='{missed}']").count() == 0  # the page could not see it
    page.unroute("**/events/stream*")
    # The same cookie is still good (signed with the same token) and the replay brings the
    # event pushed while the page was away.
    page.wait_for_selector(f"tr[data-type='{missed}']")
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator(f"tr[data-type='{before}']")).to_have_count(1)  # no duplicate either


def test_an_open_chat_follows_its_session_again_after_a_restart(
        start_daemon: StartDaemon, open_console: OpenConsole) -> None:
    config = {"llm": {"default_provider": "s", "providers": {"s": {
        "kind": "scripted", "replies": ["Reply to {input}"]}}}}
    first = start_daemon(extra_config=config)
    session_id = first.client.post("/chat/session/create", json={}).json()["id"]
    page = open_console(first, f"#/chat/{session_id}")
    expect(page.locator("#conn")).to_have_text("live")
    first.stop()
    expect(page.locator("#banner")).to_be_visible()
    second = start_daemon(extra_config=config, home=first.home, port=first.port)
    expect(page.locator("#banner")).to_be_hidden()
    sent = second.client.post(f"/chat/session/{session_id}/send", json={"text": "after"})
    assert sent.status_code == 202, sent.text
    reply = page.locator("article.msg.assistant[data-status=complete] .body")
    expect(reply).to_have_text("Reply to after")
