"""IM intake cursor repository contract: a pulling instance's position, stored and replaced."""

from __future__ import annotations

from tests.store.contract.backends import Backend, Repositories


async def test_a_position_is_stored_replaced_and_kept_per_key(store: Repositories) -> None:
    assert await store.cursors.get("telegram:bot:123") is None
    await store.cursors.advance("telegram:bot:123", "101", 1_000)
    await store.cursors.advance("telegram:bot:456", "7", 1_000)
    await store.cursors.advance("telegram:bot:123", "102", 2_000)
    assert await store.cursors.get("telegram:bot:123") == "102"
    assert await store.cursors.get("telegram:bot:456") == "7"


async def test_positions_survive_a_restart(store_backend: Backend,
                                          store: Repositories) -> None:
    await store.cursors.advance("telegram:bot:123", "101", 1_000)
    reopened = await store_backend.reopen()
    assert await reopened.cursors.get("telegram:bot:123") == "101"
