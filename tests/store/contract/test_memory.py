"""Memory repository contract: versions per file, searchable memory lines, and full-text search
of finished chat messages kept in step with the messages."""

from __future__ import annotations

from aman.chat.model import ChatSession, StoredMessage
from aman.memory.model import MemoryVersion
from tests.store.contract.backends import Backend, Repositories


def version(n: int, content: str, target: str = "memory", agent: str = "main") -> MemoryVersion:
    return MemoryVersion(agent_id=agent, target=target, version=n, content=content,
                         author="test", reason=f"v{n}", ts_ms=1_000 * n)


async def test_versions_come_back_per_file_newest_first(store: Repositories,
                                                        store_backend: Backend) -> None:
    assert await store.memory.latest("main", "memory") is None
    for n in (1, 2, 3):
        await store.memory.add(version(n, f"content {n}"))
    await store.memory.add(version(1, "about them", target="user"))
    assert await store.memory.latest("main", "memory") == version(3, "content 3")
    assert await store.memory.version("main", "memory", 2) == version(2, "content 2")
    assert await store.memory.version("main", "memory", 9) is None
    assert [v.version for v in await store.memory.versions("main", "memory")] == [3, 2, 1]
    reopened = await store_backend.reopen()
    assert [v.version for v in await reopened.memory.versions("main", "user")] == [1]


async def test_memory_lines_are_searched_per_agent_and_replaced_on_reindex(
        store: Repositories) -> None:
    await store.memory.reindex("main", [("memories/main/MEMORY.md", 1, 5, "The cat is Miso."),
                                        ("memories/main/USER.md", 1, 5, "Likes green tea.")])
    await store.memory.reindex("other", [("memories/other/MEMORY.md", 1, 5, "Miso soup.")])
    found = await store.memory.search_memory("main", "miso", 10)
    assert [(h["path"], h["line"]) for h in found] == [("memories/main/MEMORY.md", 1)]
    assert "[Miso]" in found[0]["snippet"]
    await store.memory.reindex("main", [("memories/main/MEMORY.md", 1, 6, "The dog is Rex.")])
    assert await store.memory.search_memory("main", "miso", 10) == []
    assert await store.memory.search_memory("main", "?!", 10) == []


def session(id: str, agent: str) -> ChatSession:
    return ChatSession(id=id, instance_id=f"wf-{id}", agent_id=agent, session_type="persistent",
                       title="", version=0, created_at=1_000, last_active_at=1_000)


def message(session_id: str, seq: int, content: str, status: str = "complete") -> StoredMessage:
    return StoredMessage(id=f"{session_id}-m{seq}", session_id=session_id, seq=seq, role="user",
                         content=content, status=status, created_at=1_000 + seq,
                         updated_at=1_000 + seq)


async def test_finished_messages_are_searched_in_scope(store: Repositories) -> None:
    await store.chat.create_session(session("s1", "main"))
    await store.chat.create_session(session("s2", "main"))
    await store.chat.create_session(session("s3", "other"))
    await store.chat.add_user_message(message("s1", 1, "We planned the garden party."),
                                      version=1, now=2_000)
    await store.chat.add_user_message(message("s2", 1, "The garden needs water."),
                                      version=1, now=2_000)
    await store.chat.add_user_message(message("s3", 1, "A garden elsewhere."),
                                      version=1, now=2_000)
    await store.settle()
    hits = await store.memory.search_chats("garden party", 10, agent_id="main")
    assert [h["message_id"] for h in hits][:1] == ["s1-m1"]  # every word beats any word
    assert {h["message_id"] for h in hits} == {"s1-m1", "s2-m1"}
    scoped = await store.memory.search_chats("garden", 10, agent_id="main",
                                             exclude_sessions=["s2"])
    assert [h["message_id"] for h in scoped] == ["s1-m1"]
    everyone = await store.memory.search_chats("garden", 10, agent_id=None)
    assert len(everyone) == 3


async def test_a_deleted_session_leaves_no_search_hit(store: Repositories) -> None:
    await store.chat.create_session(session("s1", "main"))
    await store.chat.add_user_message(message("s1", 1, "Unique walrus words."), version=1,
                                      now=2_000)
    await store.settle()
    assert len(await store.memory.search_chats("walrus", 10, agent_id="main")) == 1
    await store.chat.delete_session("s1")
    assert await store.memory.search_chats("walrus", 10, agent_id="main") == []
