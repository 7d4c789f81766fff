"""The console in a real chromium against the real daemon (scripted provider, token set).

Sign-in and the cookie; a streamed reply token by token and Stop; an approval answered in the
page; an XSS reply shown as text; a pushed event in the tail; a DLQ retry; cron "run now"; the
live-config form; the chat at 390 px; a screenshot of every view. Every page's requests are
checked to stay on the daemon (``open_console``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.daemons import TEST_TOKEN, Daemon, daemon_context
from tests.e2e.receiver import Receiver
from tests.helpers import wait_for_sync
from tests.ui.console import WAIT_MS, OpenConsole, shoot

pytestmark = pytest.mark.e2e

#: 120 words at 40 ms: about 5 s of streaming, long enough to watch it grow and to stop it.
FILLER = " ".join(f"w{i}" for i in range(120))
XSS = 'Look: <img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> **bold**'
WRITE = json.dumps({"tool_calls": [{"name": "write",
                                    "arguments": {"path": "notes.md", "content": "hello"}}]})


def console_config(receiver: Receiver, workspace: Path) -> dict[str, Any]:
    return {
        "llm": {"default_provider": "slow", "providers": {
            "slow": {"kind": "scripted", "replies": [f"Echo {{input}}: {FILLER}"], "token_ms": 40},
            "xss": {"kind": "scripted", "replies": [XSS]},
            "tools": {"kind": "scripted", "replies": [WRITE, "Saved: {tool_result}"]}}},
        "agents": {"aman": {}, "xss": {"provider": "xss"}, "tools": {"provider": "tools"}},
        "tools": {"workspace_dir": str(workspace)},
        "event_bus": {"retry_backoff_ms": [20, 40], "max_retries": 2},
        "forwarders": [{"name": "sink", "url": receiver.url, "event_types": ["invoice.paid"]}],
        "cron": {"jobs": [{"id": "yearly", "expression": "0 0 1 1 *", "event_type": "report_due"}]},
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Daemon]:
    """A daemon with a token, three scripted agents, a forwarder and a cron job."""
    workdir = tmp_path_factory.mktemp("console")
    with daemon_context(workdir, token=TEST_TOKEN,
                        extra_config=console_config(receiver, workdir / "ws")) as running:
        yield running



def new_session(page: Page, agent: str) -> str:
    page.locator("select[aria-label=Agent]").select_option(agent)
    page.get_by_role("button", name="New", exact=True).click()
    page.wait_for_url("**/ui/#/chat/*")
    page.wait_for_selector("textarea[aria-label=Message]")
    return page.url.rsplit("/", 1)[-1]


def send(page: Page, text: str) -> None:
    box = page.locator("textarea[aria-label=Message]")
    box.fill(text)
    box.press("Enter")


# --- sign-in -----------------------------------------------------------------------------------


def test_sign_in_trades_the_token_for_a_cookie_and_a_wrong_token_is_refused(
        console: Daemon, open_console: OpenConsole) -> None:
    page = open_console(console, signed_in=False)
    dialog = page.locator("#signin-dialog")
    expect(dialog).to_be_visible()
    shoot(page, "sign-in")
    page.locator("#signin-token").fill("not-the-token")
    page.locator("#signin-ok").click()
    expect(page.locator("#signin-error")).to_contain_text("not valid")
    expect(dialog).to_be_visible()
    page.locator("#signin-token").fill(TEST_TOKEN)
    page.locator("#signin-ok").click()
    page.wait_for_selector("body[data-ready=yes]")
    expect(dialog).to_be_hidden()
    expect(page.locator("#conn")).to_have_text("live")

    cookies = {c["name"]: c for c in page.context.cookies()}
    cookie = cookies["aman_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert TEST_TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: scripts cannot read it
    # The cookie works on a protected route; an unsafe method without the CSRF header does not.
    status = page.evaluate("fetch('/runtime/status').then(r => r.status)")
    assert status == 200
    refused = page.evaluate("""fetch('/chat/session/create', {method: 'POST',
        headers: {'content-type': 'application/json'}, body: '{}'}).then(r => r.json())""")
    error = refused["error"]
    assert error["code"] == "unauthorized" and "x-aman-csrf" in error["message"]
    with httpx.Client(base_url=console.base_url, cookies={"aman_console": cookie["value"]}) as c:
        assert c.get("/chat/sessions").status_code == 200
    page.get_by_role("button", name="Sign out").click()
    expect(dialog).to_be_visible()
    with httpx.Client(base_url=console.base_url, cookies={"aman_console": cookie["value"]}) as c:
        after = c.get("/chat/sessions")
    assert after.status_code == 401 and "revoked" in after.json()["error"]["message"]


def test_a_read_only_key_signs_in_and_is_told_why_an_action_is_refused(
        console: Daemon, open_console: OpenConsole) -> None:
    made = console.client.post("/auth/keys", json={"name": "viewer", "scopes": ["read"]},
                               headers={**console.auth, "x-aman-confirm": "yes"})
    assert made.status_code == 201, made.text
    page = open_console(console, "#/cron", signed_in=False)
    page.locator("#signin-token").fill(made.json()["secret"])
    page.locator("#signin-ok").click()
    page.wait_for_selector("main[data-loaded=cron]")
    expect(page.locator("#who")).to_have_text("viewer")
    page.locator("tr[data-job=yearly] button[data-action=run]").click()
    error = page.locator("main .error-box")
    expect(error).to_contain_text("needs the operate scope")
    expect(error).to_contain_text("docs/auth.md")  # the hint says where to look
    expect(error).to_contain_text("scope_required")


# --- chat --------------------------------------------------------------------------------------


def test_a_reply_streams_token_by_token_and_stop_cuts_it(console: Daemon,
                                                        open_console: OpenConsole) -> None:
    page = open_console(console, "#/chat")
    session_id = new_session(page, "aman")
    send(page, "hello")
    body = page.locator("article.msg.assistant .body").last
    lengths: list[int] = []

    def streamed() -> bool:  # four different lengths seen while it streams
        text = body.text_content() if body.count() else ""
        if text:
            lengths.append(len(text))
        return len(set(lengths)) >= 4

    wait_for_sync(streamed, WAIT_MS / 1000, what="the reply to stream")
    assert lengths == sorted(lengths)  # it only grows
    shoot(page, "chat-streaming")
    page.locator("button[data-action=stop]").click()
    stopped = page.locator("article.msg.assistant[data-status=interrupted]")
    expect(stopped).to_have_count(1)
    shown = stopped.locator(".body").text_content() or ""
    assert shown.startswith("Echo hello:") and "w119" not in shown
    state = console.client.get(f"/chat/session/{session_id}/state", headers=console.auth).json()
    assert state["state"] == "idle" and state["messages"][-1]["status"] == "interrupted"
    # Retry regenerates it (the old one is kept as superseded, reachable with the checkbox).
    page.locator("button[data-action=retry]").click()
    expect(page.locator("article.msg.assistant[data-status=streaming]")).to_have_count(1)
    page.locator("button[data-action=stop]").click()
    page.locator("#show-superseded").check()
    expect(page.locator("article.msg.assistant[data-status=superseded]")).to_have_count(1)


def test_edit_supersedes_and_the_sessions_list_searches(console: Daemon,
                                                        open_console: OpenConsole) -> None:
    page = open_console(console, "#/chat")
    session_id = new_session(page, "xss")
    send(page, "first question")
    expect(page.locator("article.msg.assistant[data-status=complete]")).to_have_count(1)
    page.locator("article.msg.user button[data-action=edit]").click()
    page.locator("textarea[aria-label='New text']").fill("second question")
    page.get_by_role("button", name="Save and regenerate").click()
    expect(page.locator("article.msg.user .body")).to_have_text("second question")
    expect(page.locator("article.msg.assistant[data-status=complete]")).to_have_count(1)
    page.locator("#show-superseded").check()
    expect(page.locator("article.msg[data-status=superseded]")).to_have_count(2)
    search = page.locator("input[aria-label='Search sessions']")
    search.fill(session_id[-6:])
    expect(page.locator(f"a[data-session='{session_id}']")).to_have_count(1)
    search.fill("no such session anywhere")
    expect(page.locator("a[data-session]")).to_have_count(0)


def test_model_html_renders_as_text(console: Daemon, open_console: OpenConsole) -> None:
    page = open_console(console, "#/chat")
    new_session(page, "xss")
    send(page, "show me")
    reply = page.locator("article.msg.assistant[data-status=complete] .body")
    expect(reply).to_contain_text('<img src=x onerror="window.__xss=1">')
    expect(reply).to_contain_text("<script>window.__xss=2</script>")
    assert reply.locator("img, script").count() == 0
    assert reply.locator("strong").text_content() == "bold"  # Markdown still renders
    assert page.evaluate("window.__xss") is None
    shoot(page, "chat")


def test_an_approval_answered_in_the_page_resumes_the_turn(console: Daemon,
                                                          open_console: OpenConsole) -> None:
    page = open_console(console, "#/chat")
    new_session(page, "tools")
    send(page, "save a note")
    card = page.locator(".approval")
    expect(card).to_contain_text("write")
    shoot(page, "chat-approval")
    card.locator("button[data-answer=approve]").click()
    reply = page.locator("article.msg.assistant[data-status=complete]")
    expect(reply.locator(".body")).to_contain_text("Saved:")
    expect(reply.locator("details.tool")).to_contain_text("write")
    expect(page.locator(".approval")).to_have_count(0)


def test_approve_for_this_session_is_not_asked_again(console: Daemon,
                                                     open_console: OpenConsole) -> None:
    page = open_console(console, "#/chat")
    new_session(page, "tools")
    send(page, "save one")
    page.locator(".approval button[data-answer=session]").click()
    done = page.locator("article.msg.assistant[data-status=complete]")
    expect(done).to_have_count(1)
    send(page, "save two")
    expect(done).to_have_count(2)  # the second write ran without asking
    expect(page.locator(".approval")).to_have_count(0)
    audit = console.client.get("/audit-log", params={"action": "tool_auth.approve"},
                               headers=console.auth).json()["items"]
    assert audit and audit[0]["outcome"] == "ok"


def test_approvals_view_lists_and_answers_across_sessions(console: Daemon,
                                                          open_console: OpenConsole) -> None:
    page = open_console(console, "#/chat")
    new_session(page, "tools")
    send(page, "save another note")
    expect(page.locator(".approval")).to_have_count(1)
    page.goto(f"{console.base_url}/ui/#/approvals")
    row = page.locator("tr[data-auth]")
    expect(row).to_have_count(1)
    shoot(page, "approvals")
    row.locator("button[data-answer=deny]").click()
    expect(page.locator("[data-empty]")).to_be_visible()


# --- events, DLQ, cron, config -----------------------------------------------------------------


def test_a_pushed_event_appears_in_the_tail_within_a_second(console: Daemon,
                                                          open_console: OpenConsole) -> None:
    page = open_console(console, "#/events")
    expect(page.locator("[data-stat=queue]")).to_be_visible()
    kind = f"console.probe.{time.time_ns()}"
    started = time.monotonic()
    pushed = console.client.post("/events/push", headers=console.auth,
                                 json={"source": "test:console", "type": kind, "payload": {"n": 1}})
    assert pushed.status_code == 202, pushed.text
    page.wait_for_selector(f"tr[data-type='{kind}']")
    assert time.monotonic() - started < 1.0
    row = page.locator(f"tr[data-type='{kind}']")
    expect(row).to_contain_text('"n":1')  # the cookie is shown payloads
    shoot(page, "events")
    page.locator(f"tr[data-type='{kind}']").click()
    expect(page.locator("[data-trace]")).to_contain_text(kind)
    expect(page.locator("[data-trace]")).to_contain_text("accepted")


def test_a_dlq_entry_is_retried_from_the_page(console: Daemon, receiver: Receiver,
                                              open_console: OpenConsole) -> None:
    receiver.failing = True
    pushed = console.client.post("/events/push", headers=console.auth,
                                 json={"source": "billing:x", "type": "invoice.paid"}).json()
    wait_for_sync(lambda: console.client.get("/dlq", headers=console.auth).json()["items"], 15,
                  what="a DLQ entry")
    receiver.failing = False
    page = open_console(console, "#/dlq")
    row = page.locator("tr[data-entry]")
    expect(row).to_have_count(1)
    shoot(page, "dlq")
    row.locator("button[data-action=retry]").click()
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.locator("#operator").fill("alice")
    page.locator("#confirm-ok").click()
    wait_for_sync(lambda: pushed["id"] in receiver.ids(), 15, what="the re-sent event")
    expect(page.locator("[data-empty]")).to_be_visible()
    audit = console.client.get("/audit-log", params={"action": "dlq.retry"},
                               headers=console.auth).json()["items"]
    assert audit[0]["operator"] == "alice" and audit[0]["outcome"] == "ok"


def test_a_notification_is_marked_read_from_the_status_view(
        console: Daemon, receiver: Receiver, open_console: OpenConsole) -> None:
    receiver.failing = True
    try:
        console.client.post("/events/push", headers=console.auth,
                            json={"source": "billing:y", "type": "invoice.paid"})
        unread = wait_for_sync(lambda: [n for n in console.client.get(
            "/notifications", headers=console.auth).json()["items"] if not n["read"]], 15,
            what="an unread notification (the DLQ parks the delivery)")
    finally:
        receiver.failing = False
    page = open_console(console, "#/status")
    row = page.locator(f"tr[data-notification='{unread[0]['id']}']")
    expect(row).to_contain_text("unread")
    expect(page.locator("#unread")).to_be_visible()  # the bell counts it
    row.get_by_role("button", name="Mark read").click()
    expect(page.locator(f"tr[data-notification='{unread[0]['id']}']")).not_to_contain_text(
        "unread")
    found = console.client.get("/notifications", headers=console.auth).json()["items"]
    assert {n["id"]: n["read"] for n in found}[unread[0]["id"]] is True


def test_cron_run_now_shows_its_run(console: Daemon, open_console: OpenConsole) -> None:
    page = open_console(console, "#/cron")
    row = page.locator("tr[data-job=yearly]")
    row.locator("button[data-action=run]").click()
    run = page.locator("tr[data-run]")
    expect(run).to_have_count(1)
    expect(run).to_contain_text("ok")
    expect(run).to_contain_text("run now")
    shoot(page, "cron")
    runs = console.client.get("/cron/yearly/runs", headers=console.auth).json()["items"]
    assert [r["outcome"] for r in runs] == ["ok"]


def test_the_live_config_form_changes_a_value(console: Daemon, open_console: OpenConsole) -> None:
    page = open_console(console, "#/config")
    field = page.locator("input[data-key='event_bus.max_queue_size']")
    field.fill("7777")
    field.press("Enter")
    page.locator("#operator").fill("bob")
    page.locator("#confirm-ok").click()
    expect(page.locator(".toast")).to_contain_text("event_bus.max_queue_size = 7777")
    expect(page.locator("input[data-key='event_bus.max_queue_size']")).to_have_value("7777")
    keys = console.client.get("/config/live-keys", headers=console.auth).json()["keys"]
    assert {k["key"]: k["value"] for k in keys}["event_bus.max_queue_size"] == 7777
    # A refused value shows the server's message and hint, and changes nothing.
    field = page.locator("input[data-key='event_bus.max_queue_size']")
    field.fill("-5")
    field.press("Enter")
    page.locator("#confirm-ok").click()
    expect(page.locator(".error-box")).to_contain_text("event_bus.max_queue_size")
    shoot(page, "config")


def test_workflow_instances_and_their_history(console: Daemon,
                                              open_console: OpenConsole) -> None:
    created = console.client.post("/chat/session/create", headers=console.auth, json={}).json()
    instance = created["workflow_instance_id"]
    page = open_console(console, "#/workflows")
    expect(page.locator("table").first).to_contain_text("message-session")
    page.locator("input[aria-label='Instances in state']").fill("active")
    page.locator("input[aria-label='Instances in state']").press("Enter")
    link = page.get_by_role("link", name=instance[-12:])
    link.click()
    expect(page.get_by_role("heading", name=f"Instance {instance}")).to_be_visible()
    expect(page.locator("details summary", has_text="data")).to_be_visible()


def test_skills_search_disable_enable_and_versions(console: Daemon,
                                                   open_console: OpenConsole) -> None:
    page = open_console(console, "#/skills")
    search = page.locator("input[aria-label='Search skills']")
    search.fill("poem")
    search.press("Enter")
    rows = page.locator("tr[data-skill]")
    expect(rows).to_have_count(1)
    row = page.locator("tr[data-skill=idle-creative-break]")
    row.get_by_role("button", name="Disable").click()
    expect(row).to_contain_text("disabled")
    assert console.client.get("/skill/idle-creative-break",
                              headers=console.auth).json()["enabled"] is False
    row.get_by_role("button", name="Enable").click()
    expect(row).to_contain_text("enabled")
    row.get_by_role("button", name="Versions").click()
    expect(page.get_by_role("heading", name="Versions of idle-creative-break")).to_be_visible()
    expect(page.locator("main")).to_contain_text("current")


def test_a_bad_soul_edit_shows_the_error_in_place_and_changes_nothing(
        console: Daemon, open_console: OpenConsole) -> None:
    before = console.client.get("/soul/raw", headers=console.auth).json()["content"]
    page = open_console(console, "#/soul")
    area = page.locator("textarea[aria-label='Soul content']")
    expect(area).to_have_value(before)
    area.fill("## Section before the title\ntext\n# Title\n")
    page.get_by_role("button", name="Save").click()
    error = page.locator("form .error-box")
    expect(error).to_contain_text("invalid soul")
    expect(error).to_contain_text("line 1")
    assert console.client.get("/soul/raw", headers=console.auth).json()["content"] == before


def test_every_view_renders_and_the_chat_fits_390_px(console: Daemon,
                                                     open_console: OpenConsole) -> None:
    page = open_console(console, "#/status")
    for view in ("status", "workflows", "skills", "soul", "plugins"):
        page.goto(f"{console.base_url}/ui/#/{view}")
        page.wait_for_selector(f"main[data-loaded={view}]")
        expect(page.locator("main .error-box")).to_have_count(0)
        shoot(page, view)
    page.goto(f"{console.base_url}/ui/#/status")
    page.locator("button[data-action=verify]").click()
    expect(page.locator("section[aria-label='Audit log']")).to_contain_text("chain intact")
    # Enabling a plugin with a page puts that page in the navigation.
    page.goto(f"{console.base_url}/ui/#/plugins")
    page.locator("tr[data-plugin=example] button").click()
    expect(page.locator("#nav-plugins a[data-plugin-page]")).to_have_count(1)
    # A change made elsewhere shows live: the row and the navigation follow the event.
    off = console.client.post("/plugin/example/disable",
                              headers={**console.auth, "x-aman-confirm": "yes"})
    assert off.status_code == 200, off.text
    expect(page.locator("tr[data-plugin=example]")).to_contain_text("disabled")
    expect(page.locator("#nav-plugins a[data-plugin-page]")).to_have_count(0)
    phone = open_console(console, "#/chat", width=390, height=844, color_scheme="dark")
    new_session(phone, "xss")
    send(phone, "a long line " + "x" * 300)
    expect(phone.locator("article.msg.assistant[data-status=complete]")).to_have_count(1)
    overflow = phone.evaluate(
        "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
    assert overflow == 0
    shoot(phone, "chat-390px-dark")
    for view in ("approvals", "events", "dlq", "workflows", "cron", "skills", "soul", "plugins",
                 "status", "config"):
        phone.goto(f"{console.base_url}/ui/#/{view}")
        phone.wait_for_selector(f"main[data-loaded={view}]")
        overflow = phone.evaluate(  # tables scroll inside their own box, never the page
            "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth")
        assert overflow == 0, view
    phone.goto(f"{console.base_url}/ui/#/chat")
    phone.locator("#menu").click()  # the navigation folds into a menu on a phone
    expect(phone.locator("#nav")).to_be_visible()
    phone.keyboard.press("Tab")
    phone.get_by_role("link", name="Events").press("Enter")
    expect(phone.locator("main h2")).to_have_text("Events")
