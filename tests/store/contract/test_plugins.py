"""Plugin state repository contract: the operator's enabled/disabled choice per plugin."""

from __future__ import annotations

from tests.store.contract.backends import Backend, Repositories


async def test_a_choice_is_stored_replaced_and_forgotten(store: Repositories) -> None:
    assert await store.plugins.all() == {}
    await store.plugins.set("weather", False, now_ms=1_000)
    await store.plugins.set("notes", True, now_ms=1_000)
    assert await store.plugins.all() == {"weather": False, "notes": True}
    await store.plugins.set("weather", True, now_ms=2_000)
    assert await store.plugins.all() == {"weather": True, "notes": True}
    await store.plugins.forget("notes")
    await store.plugins.forget("never-stored")
    assert await store.plugins.all() == {"weather": True}


async def test_choices_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    await store.plugins.set("weather", False, now_ms=1_000)
    reopened = await store_backend.reopen()
    assert await reopened.plugins.all() == {"weather": False}
