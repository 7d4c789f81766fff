"""Holds: a name (a chat session) held by one task on one daemon at a time, across daemons on
one PostgreSQL store through its advisory locks, and at once on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from aman.clock import SystemClock
from aman.cluster.holds import Holds, hold_key
from aman.cluster.model import Coordination
from aman.cluster.service import Cluster
from aman.core.lifecycle import TaskTracker
from aman.store.backend import StoreBackend, open_backend
from tests.helpers import wait_for
from tests.pg import PgServer, pg_server

__all__ = ["pg_server"]

#: Long enough for a waiter to ask the database several times (the backoff tops at 0.5 s).
STILL_WAITING_SEC = 0.4

async def open_daemon(stack: AsyncExitStack, url: str | None, folder: Path, name: str, *,
                      heartbeat_sec: float = 0.2) -> tuple[Cluster, StoreBackend]:
    """A joined Cluster on its own store connections (as a daemon has), stopped by ``stack``."""
    store = open_backend(url, folder / f"{name}.db", daemon=name)
    stack.push_async_callback(store.close)
    await store.open()
    await store.writer.start()
    stack.push_async_callback(store.writer.stop)
    cluster = Cluster(members=store.members, coordination=store.coordination,
                      events=store.events, clock=SystemClock(), tasks=TaskTracker(), name=name,
                      url=None, heartbeat_sec=heartbeat_sec,
                      dead_after_sec=heartbeat_sec * 10)
    stack.push_async_callback(cluster.stop)
    await cluster.join()
    return cluster, store


async def daemon(stack: AsyncExitStack, url: str | None, folder: Path, name: str) -> Cluster:
    """``open_daemon``'s Cluster alone."""
    return (await open_daemon(stack, url, folder, name))[0]


@pytest.fixture
async def two(pg_server: PgServer, tmp_path: Path) -> AsyncIterator[tuple[Cluster, Cluster]]:
    """Two daemons on one PostgreSQL database."""
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        yield (await daemon(stack, url, tmp_path, "a"), await daemon(stack, url, tmp_path, "b"))


async def still_waiting(task: asyncio.Task[None]) -> bool:
    """True when ``task`` has not finished within a short look."""
    done, _ = await asyncio.wait({task}, timeout=STILL_WAITING_SEC)
    return not done


async def test_a_name_held_on_one_daemon_waits_on_the_other(two: tuple[Cluster, Cluster]) -> None:
    a, b = two
    await a.holds.acquire("chat-session:s1")
    waiter = asyncio.create_task(b.holds.acquire("chat-session:s1"))
    assert await still_waiting(waiter)
    # Another name is not held up.
    async with b.holds.hold("chat-session:s2"):
        pass
    await a.holds.release("chat-session:s1")
    await asyncio.wait_for(waiter, 10)
    # Now the first daemon waits for the second.
    again = asyncio.create_task(a.holds.acquire("chat-session:s1"))
    assert await still_waiting(again)
    await b.holds.release("chat-session:s1")
    await asyncio.wait_for(again, 10)
    await a.holds.release("chat-session:s1")


async def test_tasks_of_one_daemon_take_turns_though_database_locks_nest(
        two: tuple[Cluster, Cluster]) -> None:
    a, b = two
    order: list[str] = []

    async def work(label: str, gate: asyncio.Event) -> None:
        async with a.holds.hold("chat-session:s1"):
            order.append(f"{label} in")
            await gate.wait()
            order.append(f"{label} out")

    first_gate, second_gate = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(work("first", first_gate))
    await wait_for(lambda: order == ["first in"])
    second = asyncio.create_task(work("second", second_gate))
    assert await still_waiting(second) and order == ["first in"]
    first_gate.set()
    await wait_for(lambda: order == ["first in", "first out", "second in"])
    # While the second task holds it, the other daemon still waits.
    other = asyncio.create_task(b.holds.acquire("chat-session:s1"))
    assert await still_waiting(other)
    second_gate.set()
    await asyncio.gather(first, second)
    await asyncio.wait_for(other, 10)
    await b.holds.release("chat-session:s1")


async def test_a_waiter_given_up_leaves_nothing_held(two: tuple[Cluster, Cluster]) -> None:
    a, b = two
    await a.holds.acquire("chat-session:s1")
    waiter = asyncio.create_task(b.holds.acquire("chat-session:s1"))
    assert await still_waiting(waiter)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await a.holds.release("chat-session:s1")
    async with b.holds.hold("chat-session:s1"):
        pass
    async with a.holds.hold("chat-session:s1"):
        pass  # the cancelled wait kept no lock on b's connection


async def test_a_daemon_that_stops_frees_what_it_held(pg_server: PgServer,
                                                     tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        b = await daemon(stack, url, tmp_path, "b")
        async with AsyncExitStack() as first:
            a = await daemon(first, url, tmp_path, "a")
            await a.holds.acquire("chat-session:s1")
            waiter = asyncio.create_task(b.holds.acquire("chat-session:s1"))
            assert await still_waiting(waiter)
        # a's lock connection closed without a release (as a crash would): b gets the name.
        await asyncio.wait_for(waiter, 10)
        await b.holds.release("chat-session:s1")


async def test_on_sqlite_a_hold_is_granted_at_once_and_still_serialises_tasks(
        tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        solo = await daemon(stack, None, tmp_path, "solo")
        assert not solo.shared
        await asyncio.wait_for(solo.holds.acquire("chat-session:s1"), 1)
        second = asyncio.create_task(solo.holds.acquire("chat-session:s1"))
        assert await still_waiting(second)
        await solo.holds.release("chat-session:s1")
        await asyncio.wait_for(second, 1)
        await solo.holds.release("chat-session:s1")
        with pytest.raises(RuntimeError, match="not held"):
            await solo.holds.release("chat-session:s1")


def test_hold_keys_are_stable_signed_64_bit_and_distinct() -> None:
    keys = {hold_key(f"chat-session:{n}") for n in range(1000)}
    assert len(keys) == 1000
    assert all(-(2**63) <= k < 2**63 for k in keys)
    assert hold_key("chat-session:x") == hold_key("chat-session:x")


async def test_try_acquire_takes_a_free_name_and_never_waits(
        two: tuple[Cluster, Cluster]) -> None:
    a, b = two
    assert await a.holds.try_acquire("chat-session:s1")
    assert not await b.holds.try_acquire("chat-session:s1")  # held on the other daemon
    assert not await a.holds.try_acquire("chat-session:s1")  # held by another task of this one
    await a.holds.release("chat-session:s1")
    assert await b.holds.try_acquire("chat-session:s1")
    await b.holds.release("chat-session:s1")
    async with a.holds.hold("chat-session:s1"):
        pass


class AnswerHeldBack:
    """The daemon's coordination, with the database's answer to a lock ask held back until
    ``gate`` opens (as a slow network would), so a caller can give up mid-ask."""

    def __init__(self, real: Coordination) -> None:
        self.real = real
        self.asked = asyncio.Event()
        self.gate = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self.real.connected

    async def try_lock(self, key: int) -> bool:
        taken = await self.real.try_lock(key)
        self.asked.set()
        await self.gate.wait()
        return taken

    async def unlock(self, key: int) -> None:
        await self.real.unlock(key)


async def test_a_caller_cancelled_mid_ask_gives_back_what_the_database_granted(
        pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    async with AsyncExitStack() as stack:
        _, a_store = await open_daemon(stack, url, tmp_path, "a")
        b = await daemon(stack, url, tmp_path, "b")
        slow = AnswerHeldBack(a_store.coordination)
        holds = Holds(slow)  # type: ignore[arg-type]  # the parts of Coordination it uses
        asking = asyncio.create_task(holds.acquire("chat-session:s1"))
        await wait_for(slow.asked.is_set)
        asking.cancel()
        slow.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await asking
        # The lock the database granted to a's connection was given back.
        assert await b.holds.try_acquire("chat-session:s1")
        await b.holds.release("chat-session:s1")
