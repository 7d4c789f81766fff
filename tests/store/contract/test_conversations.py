"""IM conversation repository contract: which session a chat talks to, where replies go, and the
marks that keep inbound deliveries and sent parts from being handled twice."""

from __future__ import annotations

from aman.channels.model import ReplyTarget
from aman.chat.model import ChatSession, StoredMessage
from tests.store.contract.backends import Backend, Repositories

HOME = ReplyTarget(platform="telegram", instance="home", chat_id="42")
THREAD = ReplyTarget(platform="slack", instance="work", chat_id="C1", thread_id="171.2")


async def test_a_conversation_is_bound_and_rebound(store: Repositories) -> None:
    assert await store.conversations.session_for("telegram:home:chat:42") is None
    await store.conversations.bind("telegram:home:chat:42", HOME, "s1", 1_000)
    assert await store.conversations.session_for("telegram:home:chat:42") == "s1"
    assert await store.conversations.target_of("s1") == HOME
    await store.conversations.bind("telegram:home:chat:42", HOME, "s2", 2_000)  # /new
    assert await store.conversations.session_for("telegram:home:chat:42") == "s2"
    assert await store.conversations.target_of("s2") == HOME
    assert await store.conversations.target_of("never") is None


async def test_retarget_sends_the_next_replies_elsewhere(store: Repositories) -> None:
    await store.conversations.bind("slack:work:user:U1", HOME, "s1", 1_000)
    store.conversations.retarget("s1", THREAD, 2_000)
    store.conversations.retarget("s2", THREAD, 2_000)
    await store.settle()
    assert await store.conversations.target_of("s1") == THREAD
    assert await store.conversations.target_of("s2") == THREAD


async def test_an_agent_is_reached_where_its_person_last_wrote_from(
        store: Repositories) -> None:
    for session_id, agent in (("s1", "main"), ("s2", "main"), ("s3", "other")):
        await store.chat.create_session(ChatSession(
            id=session_id, instance_id=f"wf-{session_id}", agent_id=agent,
            session_type="persistent", title="", version=0, created_at=1, last_active_at=1))
    assert await store.conversations.last_target_of_agent("main") is None
    await store.conversations.bind("telegram:home:chat:42", HOME, "s1", 1_000)
    await store.conversations.bind("slack:work:thread:C1:171.2", THREAD, "s2", 2_000)
    await store.conversations.bind("telegram:home:chat:7", HOME, "s3", 3_000)
    assert await store.conversations.last_target_of_agent("main") == THREAD
    store.conversations.retarget("s1", HOME, 4_000)
    await store.settle()
    assert await store.conversations.last_target_of_agent("main") == HOME
    assert await store.conversations.last_target_of_agent("nobody") is None


async def test_an_inbound_delivery_is_taken_once(store: Repositories) -> None:
    assert not await store.conversations.inbound_taken("telegram:home:update:7")
    await store.conversations.take_inbound("telegram:home:update:7", "s1", "m1", 1_000)
    await store.conversations.take_inbound("telegram:home:update:7", "s2", "m2", 2_000)
    await store.conversations.take_inbound("telegram:home:update:8", None, None, 2_000)
    assert await store.conversations.inbound_taken("telegram:home:update:7")
    assert await store.conversations.inbound_taken("telegram:home:update:8")


async def test_sent_parts_are_marked_once(store: Repositories) -> None:
    assert await store.conversations.sent_parts("reply:m1") == set()
    await store.conversations.mark_sent("reply:m1", 0, 1_000)
    await store.conversations.mark_sent("reply:m1", 2, 1_000)
    await store.conversations.mark_sent("reply:m1", 0, 2_000)
    await store.conversations.mark_sent("reply:m2", 0, 2_000)
    assert await store.conversations.sent_parts("reply:m1") == {0, 2}


async def test_unsent_replies_are_finished_replies_of_channel_sessions_with_no_part_sent(
        store: Repositories) -> None:
    for session_id in ("im", "web"):
        await store.chat.create_session(ChatSession(
            id=session_id, instance_id=f"wf-{session_id}", agent_id="main",
            session_type="persistent", title="", version=0, created_at=1, last_active_at=1))
    await store.conversations.bind("telegram:home:chat:42", HOME, "im", 1_000)

    def reply(id: str, session_id: str, seq: int, updated: int, *, role: str = "assistant",
              status: str = "complete") -> StoredMessage:
        return StoredMessage(id=id, session_id=session_id, seq=seq, role=role,
                             content=f"text {id}", status=status, created_at=updated,
                             updated_at=updated)

    await store.chat.add_exchange([
        reply("user", "im", 1, 5_000, role="user"),
        reply("old", "im", 2, 1_500),
        reply("sent", "im", 3, 6_000),
        reply("lost-b", "im", 5, 8_000),
        reply("lost-a", "im", 4, 7_000),
        reply("failed", "im", 6, 9_000, status="error"),
    ], version=1, now=9_000)
    await store.chat.add_exchange([reply("web-reply", "web", 1, 7_000)], version=1, now=9_000)
    await store.conversations.mark_sent("reply:sent", 0, 6_500)
    assert await store.conversations.unsent_replies(2_000) == [
        ("lost-a", "im", "text lost-a"), ("lost-b", "im", "text lost-b")]


async def test_conversations_survive_a_restart(store_backend: Backend,
                                               store: Repositories) -> None:
    await store.conversations.bind("slack:work:thread:C1:171.2", THREAD, "s1", 1_000)
    await store.conversations.take_inbound("slack:work:event:E1", "s1", "m1", 1_000)
    await store.conversations.mark_sent("reply:m1", 0, 1_000)
    reopened = await store_backend.reopen()
    assert await reopened.conversations.session_for("slack:work:thread:C1:171.2") == "s1"
    assert await reopened.conversations.target_of("s1") == THREAD
    assert await reopened.conversations.inbound_taken("slack:work:event:E1")
    assert await reopened.conversations.sent_parts("reply:m1") == {0}
