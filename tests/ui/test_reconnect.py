"""The console across a daemon restart: the banner while down, then the missed events replayed."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Route, expect

from tests.e2e.conftest import TEST_TOKEN, StartDaemon
from tests.ui.conftest import OpenConsole, shoot

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
