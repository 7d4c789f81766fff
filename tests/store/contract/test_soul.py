"""Soul repository contract: an append-only history of the contents each soul had."""

from __future__ import annotations

from aman.soul.model import SoulVersion
from tests.store.contract.backends import Backend, Repositories


async def add(store: Repositories, soul: str, content: str, at: int) -> SoulVersion:
    return await store.soul.add(soul=soul, hash=f"hash-{content}", content=content,
                                operator="alice", reason="update", created_at_ms=at)


async def test_add_returns_the_stored_version_with_a_growing_id(store: Repositories) -> None:
    first = await add(store, "default", "one", 1_000)
    second = await add(store, "default", "two", 2_000)
    assert first == SoulVersion(id=first.id, soul="default", hash="hash-one", content="one",
                                operator="alice", reason="update", created_at_ms=1_000)
    assert second.id > first.id
    assert await store.soul.latest("default") == second


async def test_versions_are_kept_per_soul_newest_first(store: Repositories) -> None:
    assert await store.soul.latest("default") is None
    assert await store.soul.list("default", 10) == []
    a1 = await add(store, "default", "one", 1_000)
    b1 = await add(store, "other", "bee", 1_500)
    a2 = await add(store, "default", "two", 2_000)
    a3 = await add(store, "default", "one", 3_000)  # the same content again is a new version
    assert await store.soul.list("default", 10) == [a3, a2, a1]
    assert await store.soul.list("default", 2) == [a3, a2]
    assert await store.soul.list("other", 10) == [b1]
    assert await store.soul.latest("other") == b1


async def test_history_survives_a_restart(store_backend: Backend, store: Repositories) -> None:
    version = await add(store, "default", "one", 1_000)
    reopened = await store_backend.reopen()
    assert await reopened.soul.latest("default") == version
