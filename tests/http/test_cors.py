"""Browser rules without a browser: the Host table, origins, preflights and response headers."""

from __future__ import annotations

import pytest

from aman.config.loader import load_settings
from aman.config.settings import HttpSettings
from aman.core.app import create_app
from aman.http.cors import ALLOW_HEADERS, BrowserPolicy
from tests.helpers import SettingsFactory

ORIGIN = "tauri://localhost"


def policy(**http: object) -> BrowserPolicy:
    return BrowserPolicy.from_settings(HttpSettings.model_validate(http))


@pytest.mark.parametrize(("bind", "allowed", "host", "served"), [
    ("127.0.0.1:9090", [], "127.0.0.1:9090", True),
    ("127.0.0.1:9090", [], "localhost:9090", True),
    ("127.0.0.1:9090", [], "LOCALHOST.", True),
    ("127.0.0.1:9090", [], "evil.example:9090", False),
    ("127.0.0.1:9090", [], "127.0.0.2:9090", False),
    ("127.0.0.1:9090", [], None, False),
    ("127.0.0.1:9090", ["aman.lan"], "aman.lan:9090", True),
    ("127.0.0.1:9090", ["aman.lan"], "sub.aman.lan", False),
    ("127.0.0.1:9090", ["*"], "anything.example", True),
    ("[::1]:9090", [], "[::1]:9090", True),
    ("[::1]:9090", [], "[::2]:9090", False),
    ("0.0.0.0:9090", [], "192.168.1.4:9090", True),
    ("0.0.0.0:9090", [], "[fe80::1]:9090", True),
    ("0.0.0.0:9090", [], "myhost.lan:9090", False),
])
def test_host_table(bind: str, allowed: list[str], host: str | None, served: bool) -> None:
    assert policy(bind=bind, token="t", allowed_hosts=allowed).host_allowed(host) is served


def test_origins_are_exact() -> None:
    rules = policy(cors={"allow_origins": [ORIGIN, "http://localhost:5173"]})
    assert rules.origin_allowed("tauri://localhost") and rules.origin_allowed(
        "http://localhost:5173")
    assert not rules.origin_allowed("http://localhost:5174")
    assert not rules.origin_allowed("http://tauri.localhost") and not rules.origin_allowed(None)
    headers = rules.preflight_headers(ORIGIN)
    assert set(headers["Access-Control-Allow-Headers"].split(", ")) == set(ALLOW_HEADERS)
    assert "Access-Control-Allow-Credentials" not in headers
    assert rules.response_headers(ORIGIN)["Access-Control-Expose-Headers"] == (
        "retry-after, x-request-id")


@pytest.mark.parametrize("origin", ["*", "http://x/path", "localhost:5173", "http://a b"])
def test_bad_origins_are_config_errors(origin: str) -> None:
    with pytest.raises(Exception, match="is not an origin"):
        load_settings(env={}, overrides={"http.cors.allow_origins": [origin]})


async def test_preflight_and_headers_through_the_app(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(**{"http.token": "secret",
                                      "http.cors.allow_origins": [ORIGIN]}))
    client = app.test_client()
    preflight = await client.options("/events/push", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 204  # answered before the token check
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    refused = await client.options("/events/push", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
    assert (await refused.get_json())["error"]["code"] == "origin_not_allowed"
    # A real request: even an error answer is readable by the allowed origin.
    unauthorized = await client.get("/skills", headers={"Origin": ORIGIN})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in unauthorized.headers["Vary"]
    other = await client.get("/health/live", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    rebound = await client.get("/health/live", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    body = await rebound.get_json()
    assert body["error"]["code"] == "host_not_allowed" and "allowed_hosts" in body["error"]["hint"]
