"""The CLI's HTTP client pieces on their own: SSE parsing and the error shape as message + hint."""

from __future__ import annotations

import httpx

from aman.cli.client import ApiError, DaemonDownError, api_error, parse_sse
from aman.cli.output import cell


def test_sse_messages_are_split_decoded_and_comments_skipped() -> None:
    lines = [": keep-alive", "", "retry: 1000", "", "id: 7", "event: event:processed",
             'data: {"a":', "data: 1}", "", "event: note", "data: plain text", ""]
    messages = list(parse_sse(iter(lines)))
    assert [(m.event, m.data, m.id) for m in messages] == [
        ("event:processed", {"a": 1}, "7"), ("note", "plain text", None)]


def test_the_error_shape_becomes_message_and_hint() -> None:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    shaped = httpx.Response(404, request=request, json={"error": {
        "code": "session_not_found", "message": "chat session not found: x",
        "hint": "GET /chat/sessions lists them.", "request_id": "r1"}})
    error = api_error(shaped)
    assert (error.status, error.code) == (404, "session_not_found")
    assert error.lines() == ["aman: chat session not found: x",
                             "hint: GET /chat/sessions lists them."]
    plain = api_error(httpx.Response(502, request=request, text="Bad gateway\nmore"))
    assert isinstance(plain, ApiError) and plain.lines() == ["aman: /x answered 502: Bad gateway"]


def test_no_daemon_is_a_single_line() -> None:
    down = DaemonDownError("no aman daemon is running at http://127.0.0.1:1", "start one")
    assert down.exit_code == 3 and len(down.lines()) == 1


def test_cells_stay_on_one_short_line() -> None:
    assert cell("a\nb   c") == "a b c"
    assert cell(None) == "-" and cell(True) == "yes"
    assert len(cell("x" * 500)) == 48 and cell("x" * 500).endswith("…")
    assert cell({"k": [1, 2]}) == '{"k":[1,2]}'


def test_doctor_skips_mcp_when_the_daemon_has_no_such_route() -> None:
    from aman.cli.client import ApiClient
    from aman.cli.doctor import _mcp

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no route",
                                                   "hint": None, "request_id": "r"}})

    api = ApiClient("http://127.0.0.1:1")
    api._http = httpx.Client(base_url=api.base_url, transport=httpx.MockTransport(answer))
    with api:
        [check] = _mcp(api)
    assert check.ok is None and "no /mcp/servers route" in check.detail
