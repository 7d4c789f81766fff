"""The OpenAI-compatible endpoint through the real daemon, called by the ``openai`` client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from tests.e2e.daemons import TEST_TOKEN, StartDaemon

pytestmark = pytest.mark.e2e

SCRIPTED = {
    "llm": {"default_provider": "s",
            "providers": {"s": {"kind": "scripted", "replies": ["Hello there, {input}!"],
                                "token_ms": 5}}},
    "agents": {"aman": {"display_name": "Aman"}},
}


ClientFactory = Callable[..., openai.OpenAI]


@pytest.fixture
def client_for() -> Iterator[ClientFactory]:
    """OpenAI clients pointed at a daemon, closed after the test (their sockets too)."""
    made: list[openai.OpenAI] = []

    def make(base_url: str, token: str = TEST_TOKEN) -> openai.OpenAI:
        made.append(openai.OpenAI(base_url=f"{base_url}/v1", api_key=token, max_retries=0))
        return made[-1]

    yield make
    for client in made:
        client.close()


def test_models_and_completions_with_the_official_client(start_daemon: StartDaemon,
                                                          client_for: ClientFactory) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config=SCRIPTED)
    client = client_for(daemon.base_url)
    assert [m.id for m in client.models.list()] == ["aman"]

    whole = client.chat.completions.create(
        model="aman", messages=[{"role": "user", "content": "Ana"}])
    assert whole.choices[0].message.content == "Hello there, Ana!"
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None and whole.usage.completion_tokens == 3

    pieces, finish, usage = [], None, None
    for chunk in client.chat.completions.create(
            model="aman:aman", messages=[{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": "Bo"}],
            stream=True, stream_options={"include_usage": True}):
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(pieces) == "Hello there, Bo!" and finish == "stop"
    assert usage is not None and usage.total_tokens > 0

    # x-aman-session-id appends the exchange to a chat session.
    session = httpx.post(f"{daemon.base_url}/chat/session/create", json={},
                         headers={"Authorization": f"Bearer {TEST_TOKEN}"}).json()
    client.chat.completions.create(model="aman", messages=[{"role": "user", "content": "Di"}],
                                   extra_headers={"x-aman-session-id": session["id"]})
    history = httpx.get(f"{daemon.base_url}/chat/session/{session['id']}/history",
                        headers={"Authorization": f"Bearer {TEST_TOKEN}"}).json()
    assert [(m["role"], m["content"]) for m in history["items"]] == [
        ("user", "Di"), ("assistant", "Hello there, Di!")]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="aman", messages=[{"role": "user", "content": "x"}],
                                       extra_headers={"x-aman-session-id": "nope"})

    limited = client.chat.completions.create(
        model="aman", messages=[{"role": "user", "content": "Cy"}], max_tokens=1)
    assert limited.choices[0].message.content == "Hello " and \
        limited.choices[0].finish_reason == "length"


def test_errors_use_openais_shape(start_daemon: StartDaemon, client_for: ClientFactory) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config=SCRIPTED)
    with pytest.raises(openai.AuthenticationError) as denied:
        client_for(daemon.base_url, token="wrong").models.list()
    assert denied.value.status_code == 401
    client = client_for(daemon.base_url)
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="nobody", messages=[{"role": "user", "content": "x"}])
    assert bad.value.code == "agent_unavailable"
    raw = httpx.post(f"{daemon.base_url}/v1/chat/completions", json={"model": "aman"},
                     headers={"Authorization": f"Bearer {TEST_TOKEN}"})
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error" and "messages" in error["message"]


def test_no_provider_is_a_clear_error(start_daemon: StartDaemon,
                                      client_for: ClientFactory) -> None:
    daemon = start_daemon(token=TEST_TOKEN, extra_config={
        "llm": {"default_provider": "", "providers": {}}, "agents": {"aman": {}}})
    with pytest.raises(openai.APIStatusError) as failed:
        client_for(daemon.base_url).chat.completions.create(
            model="aman", messages=[{"role": "user", "content": "hi"}])
    assert failed.value.status_code == 503
    assert failed.value.code == "llm_not_configured"
