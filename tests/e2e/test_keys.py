"""Scoped API keys through the real daemon: each key reaches only its scopes and agents, a revoke
ends its streams at once, secrets are never kept in clear, and guessing is rate limited."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.daemons import TEST_TOKEN, Daemon, daemon_context
from tests.e2e.test_stream import open_stream

pytestmark = pytest.mark.e2e

CONFIRM = {"x-aman-confirm": "yes"}
KEYS_CONFIG: dict[str, Any] = {
    "llm": {"default_provider": "s", "providers": {"s": {
        "kind": "scripted", "replies": ["Hello {input}"], "token_ms": 1}}},
    "agents": {"aman": {}, "other": {}},
    "auth": {"keys": [{
        "name": "stale", "scopes": ["read"], "expires_at": "2020-01-01T00:00:00Z",
        "hash": "sha256:" + hashlib.sha256(b"aman_stale-secret").hexdigest()}]},
    "http": {"auth_failure_limit": 20, "auth_block_sec": 120},
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with daemon_context(tmp_path_factory.mktemp("keys"), token=TEST_TOKEN,
                        extra_config=KEYS_CONFIG) as running:
        yield running


def make_key(daemon: Daemon, name: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    response = daemon.client.post("/auth/keys", headers={**daemon.auth, **CONFIRM},
                                  json={"name": name, "scopes": scopes, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def push(daemon: Daemon, headers: dict[str, str]) -> httpx.Response:
    return daemon.client.post("/events/push", headers=headers, json={
        "source": "test:keys", "event_type": "keys.probe", "payload": {"secret": "payload-42"}})


def test_a_read_key_streams_payloads_and_cannot_push(daemon: Daemon) -> None:
    key = make_key(daemon, "reader", ["read"])
    refused = push(daemon, bearer(key["secret"]))
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "scope_required" and "events:push" in error["message"]
    with open_stream(daemon, headers=bearer(key["secret"])) as stream:
        assert push(daemon, daemon.auth).status_code == 202
        found = stream.until(lambda m: m.event == "event:processed"
                             and m.json["event_type"] == "keys.probe")
        assert found[-1].json["payload"] == {"secret": "payload-42"}


def test_a_push_key_pushes_and_cannot_read(daemon: Daemon) -> None:
    key = make_key(daemon, "pusher", ["events:push"])
    assert push(daemon, bearer(key["secret"])).status_code == 202
    for path in ("/dlq", "/events/types", "/runtime/status"):
        answer = daemon.client.get(path, headers=bearer(key["secret"]))
        assert answer.status_code == 403, path
        assert answer.json()["error"]["code"] == "scope_required"
    stream = daemon.client.get("/events/stream", headers=bearer(key["secret"]))
    assert stream.status_code == 403


def test_a_chat_key_reaches_only_its_agent(daemon: Daemon) -> None:
    key = make_key(daemon, "chatter", ["chat"], agents=["aman"])
    headers = bearer(key["secret"])
    mine = daemon.client.post("/chat/session/create", headers=headers, json={"agent_id": "aman"})
    assert mine.status_code == 201, mine.text
    other = daemon.client.post("/chat/session/create", headers=headers,
                               json={"agent_id": "other"})
    assert other.status_code == 403 and other.json()["error"]["code"] == "agent_not_allowed"
    theirs = daemon.client.post("/chat/session/create", headers=daemon.auth,
                                json={"agent_id": "other"}).json()
    assert daemon.client.get(f"/chat/session/{theirs['id']}/state",
                             headers=headers).status_code == 403
    listed = daemon.client.get("/chat/sessions", headers=headers).json()["items"]
    assert {item["agent_id"] for item in listed} == {"aman"}
    models = daemon.client.get("/v1/models", headers=headers).json()["data"]
    assert [m["id"] for m in models] == ["aman"]
    dlq = daemon.client.get("/dlq", headers=headers)
    assert dlq.status_code == 403 and dlq.json()["error"]["code"] == "scope_required"


def test_an_operate_key_still_needs_the_confirm_header(daemon: Daemon) -> None:
    key = make_key(daemon, "operator", ["operate"])
    headers = bearer(key["secret"])
    refused = daemon.client.post("/config/set", headers=headers,
                                 json={"changes": {"dlq.max_manual_retries": 4}})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "confirmation_required"
    done = daemon.client.post("/config/set", headers={**headers, **CONFIRM},
                              json={"changes": {"dlq.max_manual_retries": 4}})
    assert done.status_code == 200, done.text
    assert daemon.client.get("/auth/keys", headers=headers).status_code == 403
    record = daemon.client.get("/audit-log", headers=daemon.auth,
                               params={"action": "config.set", "limit": 1}).json()["items"][0]
    assert record["operator"] == "operator"


def test_revoking_a_key_ends_its_stream_at_once(daemon: Daemon) -> None:
    key = make_key(daemon, "revoked", ["read"])
    with open_stream(daemon, headers=bearer(key["secret"])) as stream:
        revoked = daemon.client.post(f"/auth/keys/{key['id']}/revoke",
                                     headers={**daemon.auth, **CONFIRM})
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        started = time.monotonic()
        while stream.next() is not None:  # snapshots already on their way may still arrive
            pass
        assert time.monotonic() - started < 1.0
    after = daemon.client.get("/runtime/status", headers=bearer(key["secret"]))
    assert after.status_code == 401


def test_an_expired_key_is_refused(daemon: Daemon) -> None:
    answer = daemon.client.get("/runtime/status", headers=bearer("aman_stale-secret"))
    assert answer.status_code == 401
    assert "expired" in answer.json()["error"]["message"]


def test_a_secret_is_shown_once_and_never_stored(daemon: Daemon) -> None:
    key = make_key(daemon, "once", ["read"])
    listing = daemon.client.get("/auth/keys", headers=daemon.auth)
    assert key["secret"] not in listing.text and "hash" not in listing.json()["items"][0]
    assert daemon.client.get("/runtime/status", headers=bearer(key["secret"])).status_code == 200
    secret = key["secret"].encode()
    for path in daemon.home.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path


def test_bad_keys_from_one_address_are_blocked_and_others_still_work(daemon: Daemon) -> None:
    good = make_key(daemon, "survivor", ["read"])
    guesser = httpx.Client(base_url=daemon.base_url, timeout=10.0,
                           transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    other = httpx.Client(base_url=daemon.base_url, timeout=10.0,
                         transport=httpx.HTTPTransport(local_address="127.0.0.3"))
    with guesser, other:
        statuses = [guesser.get("/runtime/status", headers=bearer(f"aman_guess-{n}")).status_code
                    for n in range(25)]
        assert statuses[:20] == [401] * 20
        assert statuses[20:] == [429] * 5
        blocked = guesser.get("/runtime/status", headers=bearer(good["secret"]))
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert other.get("/runtime/status", headers=bearer(good["secret"])).status_code == 200
    audit = daemon.client.get("/audit-log", headers=daemon.auth,
                              params={"action": "auth.blocked"}).json()["items"]
    assert [a["target"] for a in audit] == ["address:127.0.0.2"]
