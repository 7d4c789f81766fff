"""The console's routes through the app: the page, GET / for browsers, sign-in, the cookie in
the one auth check (with its CSRF header), logout."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from aman.core.app import create_app
from aman.ui import session
from tests.helpers import SettingsFactory, runtime_of, wait_for

TOKEN = "t0ken-for-console-tests"


@pytest.fixture
async def token_app(make_settings: SettingsFactory) -> AsyncIterator[Quart]:
    app = create_app(make_settings(**{"http.token": TOKEN}))
    async with app.test_app():
        await wait_for(lambda: runtime_of(app).ready)
        yield app


async def signed_in(app: Quart) -> tuple[str, str]:
    """Sign in; return (cookie value, csrf)."""
    response = await app.test_client().post("/ui/session", json={"token": TOKEN})
    assert response.status_code == 200
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/" in header
    value = header.split(";", 1)[0].split("=", 1)[1]
    return value, (await response.get_json())["csrf"]


async def test_the_page_and_its_files_are_served_with_a_strict_policy(token_app: Quart) -> None:
    client = token_app.test_client()
    page = await client.get("/ui/")
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert b'src="/ui/static/js/main.js"' in await page.get_data()
    script = await client.get("/ui/static/js/main.js")
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]
    plain = await script.get_data()
    zipped = await client.get("/ui/static/js/main.js", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(await zipped.get_data()) == plain
    assert zipped.headers["ETag"] != script.headers["ETag"]
    assert (await client.get("/ui/static/js/nothing.js")).status_code == 404
    assert (await client.get("/ui/static/../__init__.py")).status_code == 404


async def test_root_sends_browsers_to_the_console(token_app: Quart) -> None:
    client = token_app.test_client()
    browser = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 302 and browser.headers["Location"] == "/ui/"
    api = await client.get("/", headers={"Accept": "application/json"})
    assert api.status_code == 404 and (await api.get_json())["error"]["hint"]


async def test_a_wrong_token_sets_nothing(token_app: Quart) -> None:
    response = await token_app.test_client().post("/ui/session", json={"token": "wrong"})
    assert response.status_code == 401 and "Set-Cookie" not in response.headers
    error = (await response.get_json())["error"]
    assert error["code"] == "unauthorized" and "http.token" in error["hint"]


async def test_the_cookie_stands_in_for_the_token_and_unsafe_methods_need_csrf(
        token_app: Quart) -> None:
    value, csrf = await signed_in(token_app)
    cookie = {"Cookie": f"{session.COOKIE_NAME}={value}"}
    client = token_app.test_client()
    assert (await client.get("/runtime/status", headers=cookie)).status_code == 200
    info = await (await client.get("/ui/session", headers=cookie)).get_json()
    assert info == {"auth_required": True, "signed_in": True, "csrf": csrf,
                    "expires_at": info["expires_at"], "name": "api", "scopes": ["admin"]}
    refused = await client.post("/chat/session/create", json={}, headers=cookie)
    assert refused.status_code == 401
    assert "x-aman-csrf" in (await refused.get_json())["error"]["message"]
    wrong = await client.post("/chat/session/create", json={},
                              headers={**cookie, "x-aman-csrf": "nope"})
    assert wrong.status_code == 401
    created = await client.post("/chat/session/create", json={},
                                headers={**cookie, "x-aman-csrf": csrf})
    assert created.status_code == 201
    no_cookie = await client.get("/ui/session")
    assert await no_cookie.get_json() == {"auth_required": True, "signed_in": False}


async def test_logout_revokes_the_cookie(token_app: Quart) -> None:
    value, csrf = await signed_in(token_app)
    cookie = {"Cookie": f"{session.COOKIE_NAME}={value}"}
    client = token_app.test_client()
    out = await client.post("/ui/logout", headers={**cookie, "x-aman-csrf": csrf})
    assert out.status_code == 200 and (await out.get_json())["revoked"] is True
    assert f"{session.COOKIE_NAME}=;" in out.headers["Set-Cookie"]
    after = await client.get("/runtime/status", headers=cookie)
    assert after.status_code == 401 and "revoked" in (await after.get_json())["error"]["message"]


async def test_a_new_token_revokes_every_cookie(token_app: Quart, make_settings: SettingsFactory,
                                                tmp_path: Path) -> None:
    value, _ = await signed_in(token_app)
    (tmp_path / "other").mkdir()
    other = create_app(make_settings(**{"http.token": "a-different-token",
                                        "runtime.dir": str(tmp_path / "other")}))
    async with other.test_app():
        await wait_for(lambda: runtime_of(other).ready)
        response = await other.test_client().get(
            "/runtime/status", headers={"Cookie": f"{session.COOKIE_NAME}={value}"})
    assert response.status_code == 401


async def test_the_event_stream_refuses_a_stale_cookie(token_app: Quart) -> None:
    client = token_app.test_client()
    stale = await client.get("/events/stream",
                             headers={"Cookie": f"{session.COOKIE_NAME}=v1.1.x.y"})
    assert stale.status_code == 401


async def test_without_a_token_there_is_no_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    assert await (await client.get("/ui/session")).get_json() == {"auth_required": False,
                                                                 "signed_in": True}
    answer = await client.post("/ui/session", json={"token": "anything"})
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers


def test_every_module_is_preloaded_and_the_whole_console_is_small() -> None:
    import gzip

    from aman.ui import STATIC_DIR

    index = (STATIC_DIR / "index.html").read_text()
    modules = sorted(p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*.js"))
    for module in modules:
        assert f'/ui/static/{module}"' in index, f"{module} is not preloaded by index.html"
    every_file = b"".join(p.read_bytes() for p in sorted(STATIC_DIR.rglob("*")) if p.is_file())
    assert len(gzip.compress(every_file)) < 300 * 1024


async def test_a_scoped_key_signs_in_with_its_own_scopes_until_revoked(token_app: Quart) -> None:
    client = token_app.test_client()
    made = await client.post("/auth/keys", json={"name": "viewer", "scopes": ["read"]},
                             headers={"Authorization": f"Bearer {TOKEN}", "x-aman-confirm": "yes"})
    assert made.status_code == 201, await made.get_json()
    key = await made.get_json()
    answer = await client.post("/ui/session", json={"token": key["secret"]})
    body = await answer.get_json()
    assert body["name"] == "viewer" and body["scopes"] == ["read"]
    value = answer.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    cookie = {"Cookie": f"{session.COOKIE_NAME}={value}", "x-aman-csrf": body["csrf"]}
    assert (await client.get("/runtime/status", headers=cookie)).status_code == 200
    refused = await client.post("/chat/session/create", json={}, headers=cookie)
    assert refused.status_code == 403
    assert (await refused.get_json())["error"]["code"] == "scope_required"
    revoked = await client.post(f"/auth/keys/{key['id']}/revoke", headers={
        "Authorization": f"Bearer {TOKEN}", "x-aman-confirm": "yes"})
    assert revoked.status_code == 200, await revoked.get_json()
    after = await client.get("/runtime/status", headers=cookie)
    assert after.status_code == 401
    assert "no longer valid" in (await after.get_json())["error"]["message"]
