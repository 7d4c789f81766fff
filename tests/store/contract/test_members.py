"""Cluster members contract: one row per daemon, refreshed by its own incarnation only."""

from __future__ import annotations

from aman.cluster.model import Member
from tests.store.contract.backends import Backend, Repositories


def member(name: str, incarnation: str = "i1", *, seen: int = 1_000) -> Member:
    return Member(name=name, incarnation=incarnation, host="h", pid=42,
                  url=f"http://{name}", started_at=500, last_seen=seen)


async def test_a_joined_daemon_is_listed_and_its_beat_refreshes_it(store: Repositories) -> None:
    assert await store.members.members() == []
    await store.members.join(member("b:2"))
    await store.members.join(member("a:1"))
    assert [m.name for m in await store.members.members()] == ["a:1", "b:2"]
    assert await store.members.beat("a:1", "i1", 2_000, ["cron", "maintenance"])
    [a, _] = await store.members.members()
    assert a.last_seen == 2_000 and a.leads == ["cron", "maintenance"] and a.pid == 42


async def test_a_new_incarnation_replaces_the_row_and_the_old_one_cannot_beat(
        store: Repositories) -> None:
    await store.members.join(member("a:1", "old"))
    await store.members.join(member("a:1", "new", seen=3_000))
    assert not await store.members.beat("a:1", "old", 4_000, [])
    [row] = await store.members.members()
    assert row.incarnation == "new" and row.last_seen == 3_000
    assert await store.members.beat("a:1", "new", 5_000, [])


async def test_leave_and_forget_remove_rows(store: Repositories) -> None:
    for name in ("a:1", "b:2", "c:3"):
        await store.members.join(member(name))
    await store.members.leave("a:1", "other incarnation")
    await store.members.leave("b:2", "i1")
    await store.members.forget(["c:3", "nobody"])
    assert [m.name for m in await store.members.members()] == ["a:1"]
    assert not await store.members.beat("b:2", "i1", 9_000, [])


async def test_rows_survive_a_restart(store_backend: Backend, store: Repositories) -> None:
    await store.members.join(member("a:1"))
    reopened = await store_backend.reopen()
    assert [m.name for m in await reopened.members.members()] == ["a:1"]
