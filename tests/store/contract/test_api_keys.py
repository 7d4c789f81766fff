"""API key repository contract: keys made through the API, revoked once, their last use kept."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aman.auth.model import ApiKey
from aman.errors import StoreError
from tests.store.contract.backends import Backend, Repositories


def key(id: str, *, at: int = 1_000, **fields: Any) -> ApiKey:
    made = ApiKey(id=id, name=f"name-{id}", scopes=("read", "chat"), hash=f"sha256:{id}",
                  prefix=f"aman_{id}", created_at_ms=at)
    return replace(made, **fields)


async def test_keys_come_back_as_stored_oldest_first(store: Repositories) -> None:
    assert await store.api_keys.all() == []
    later = key("b", at=2_000, agents=("main", "helper"), expires_at_ms=9_000)
    first = key("a", at=1_000, scopes=("admin",))
    await store.api_keys.add(later)
    await store.api_keys.add(first)
    assert await store.api_keys.all() == [first, later]


async def test_names_and_hashes_are_unique(store: Repositories) -> None:
    await store.api_keys.add(key("a"))
    with pytest.raises(StoreError):
        await store.api_keys.add(key("b", name="name-a"))
    with pytest.raises(StoreError):
        await store.api_keys.add(key("c", hash="sha256:a"))
    assert [k.id for k in await store.api_keys.all()] == ["a"]


async def test_a_key_is_revoked_once(store: Repositories) -> None:
    await store.api_keys.add(key("a"))
    await store.api_keys.revoke("a", now_ms=5_000)
    await store.api_keys.revoke("a", now_ms=6_000)
    await store.api_keys.revoke("missing", now_ms=6_000)
    assert await store.api_keys.all() == [key("a", revoked_at_ms=5_000)]


async def test_last_use_is_recorded_for_many_keys_at_once(store: Repositories) -> None:
    await store.api_keys.add(key("a"))
    await store.api_keys.add(key("b", at=2_000))
    await store.api_keys.touch({})
    await store.api_keys.touch({"a": 7_000, "b": 8_000, "missing": 9_000})
    await store.api_keys.touch({"a": 7_500})
    assert [(k.id, k.last_used_at_ms) for k in await store.api_keys.all()] == [
        ("a", 7_500), ("b", 8_000)]


async def test_keys_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    await store.api_keys.add(key("a"))
    reopened = await store_backend.reopen()
    assert await reopened.api_keys.all() == [key("a")]
