"""Chat repository contract: sessions, their ordered messages, streaming replies and recovery."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from aman.chat.model import ChatSession, StoredMessage
from aman.errors import StoreError
from aman.workflows.model import WorkflowInstance
from tests.store.contract.backends import Backend, Repositories


def session(id: str, *, agent: str = "main", active: int = 1_000) -> ChatSession:
    return ChatSession(id=id, instance_id=f"wf-{id}", agent_id=agent, session_type="persistent",
                       title=f"title {id}", version=0, created_at=1_000, last_active_at=active)


def message(session_id: str, seq: int, role: str = "user", *, status: str = "complete",
            content: str | None = None, **fields: Any) -> StoredMessage:
    made = StoredMessage(id=f"{session_id}-m{seq}", session_id=session_id, seq=seq, role=role,
                         content=content if content is not None else f"text {seq}",
                         status=status, created_at=1_000 + seq, updated_at=1_000 + seq)
    return made.with_changes(**fields)


async def test_a_session_comes_back_with_its_visible_message_count(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    await store.chat.create_session(replace(session("s2"), purpose="idle"))
    assert await store.chat.session("s1") == session("s1")
    assert await store.chat.session("s2") == replace(session("s2"), purpose="idle")
    assert await store.chat.session("missing") is None
    await store.chat.add_user_message(message("s1", 1), version=1, now=2_000)
    await store.chat.add_user_message(message("s1", 2), version=2, now=3_000)
    await store.chat.supersede("s1-m2", "s1", version=3, now=4_000)
    found = await store.chat.session("s1")
    assert found is not None
    assert (found.message_count, found.version, found.last_active_at) == (1, 3, 4_000)


async def test_sessions_page_most_recently_active_first(store: Repositories) -> None:
    for id, agent, active in (("a", "main", 1_000), ("b", "main", 3_000), ("c", "other", 2_000),
                              ("d", "main", 3_000)):
        await store.chat.create_session(session(id, agent=agent, active=active))
    page = await store.chat.page_sessions(agent_id=None, after=None, limit=2)
    assert [s.id for s in page] == ["d", "b"]
    rest = await store.chat.page_sessions(agent_id=None, after=(3_000, "b"), limit=10)
    assert [s.id for s in rest] == ["c", "a"]
    mine = await store.chat.page_sessions(agent_id="main", after=None, limit=10)
    assert [s.id for s in mine] == ["d", "b", "a"]
    await store.chat.touch("a", version=5, now=9_000)
    first = (await store.chat.page_sessions(agent_id=None, after=None, limit=1))[0]
    assert (first.id, first.version, first.last_active_at) == ("a", 5, 9_000)


async def test_messages_come_back_in_order_with_every_field(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    user = message("s1", 1, skill="summarise", model_text="the skill body")
    reply = message("s1", 2, "assistant", model="gpt-x", input_tokens=10, output_tokens=20,
                    replaces=None, tool_steps=[{"text": "t", "calls": [{"id": "c1"}],
                                                "results": [{"call_id": "c1", "output": "ok"}]}])
    failed = message("s1", 3, "assistant", status="error",
                     error={"code": "llm_down", "message": "no", "hint": "later"})
    await store.chat.add_user_message(user, version=1, now=2_000)
    await store.chat.add_exchange([reply, failed], version=2, now=3_000)
    assert await store.chat.messages("s1") == [user, reply, failed]
    assert await store.chat.messages("s1", after_seq=1, limit=1) == [reply]
    assert await store.chat.message("s1-m3") == failed
    assert await store.chat.message("missing") is None
    assert await store.chat.last_seq("s1") == 3
    assert await store.chat.last_seq("empty") == 0


async def test_a_seq_is_taken_once_per_session(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    await store.chat.add_user_message(message("s1", 1), version=1, now=2_000)
    with pytest.raises(StoreError):
        await store.chat.add_user_message(message("s1", 1).with_changes(id="other"), version=2,
                                          now=3_000)
    assert [m.id for m in await store.chat.messages("s1")] == ["s1-m1"]
    found = await store.chat.session("s1")
    assert found is not None and found.version == 1


async def test_an_edit_supersedes_everything_from_the_edited_message(
        store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    for seq in (1, 2, 3, 4):
        await store.chat.add_user_message(message("s1", seq), version=seq, now=2_000 + seq)
    edit = message("s1", 5, replaces="s1-m2")
    await store.chat.add_user_message(edit, version=5, now=3_000, supersede_from=2)
    assert [m.seq for m in await store.chat.messages("s1")] == [1, 5]
    everything = await store.chat.messages("s1", include_superseded=True)
    assert [(m.seq, m.status) for m in everything] == [
        (1, "complete"), (2, "superseded"), (3, "superseded"), (4, "superseded"),
        (5, "complete")]
    assert all(m.updated_at == 3_000 for m in everything if m.status == "superseded")


async def test_a_streaming_reply_is_saved_partially_then_finished(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    reply = message("s1", 1, "assistant", status="streaming", content="")
    store.chat.start_reply(reply)
    store.chat.save_partial(reply.id, "Hel", 2_000)
    await store.settle()
    assert await store.chat.streaming() == [reply.with_changes(content="Hel", updated_at=2_000)]
    done = reply.with_changes(status="complete", content="Hello", model="m", input_tokens=1,
                              output_tokens=2, updated_at=3_000)
    await store.chat.finish(done)
    store.chat.save_partial(reply.id, "Hello, late", 4_000)  # a partial that lost the race
    await store.settle()
    assert await store.chat.message(reply.id) == done
    assert await store.chat.streaming() == []


async def test_interrupt_marks_only_replies_still_streaming(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    cut = message("s1", 1, "assistant", status="streaming", content="partial")
    finished = message("s1", 2, "assistant")
    store.chat.start_reply(cut)
    await store.chat.add_exchange([finished], version=1, now=2_000)
    error = {"code": "interrupted", "message": "the daemon stopped", "hint": "retry"}
    await store.chat.interrupt([cut.id, finished.id], error, 5_000)
    await store.chat.interrupt([], error, 6_000)
    assert await store.chat.message(cut.id) == cut.with_changes(status="interrupted",
                                                                error=error, updated_at=5_000)
    assert await store.chat.message(finished.id) == finished


async def test_delete_removes_the_session_and_counts_its_messages(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    await store.chat.create_session(session("s2"))
    await store.chat.add_exchange([message("s1", 1), message("s1", 2, "assistant")], version=1,
                                  now=2_000)
    await store.chat.add_exchange([message("s2", 1)], version=1, now=2_000)
    assert await store.chat.delete_session("s1") == 2
    assert await store.chat.session("s1") is None
    assert await store.chat.messages("s1", include_superseded=True) == []
    assert await store.chat.delete_session("s1") == 0
    assert len(await store.chat.messages("s2")) == 1


async def test_prune_keeps_the_newest_messages_of_one_session(store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    await store.chat.create_session(session("s2"))
    await store.chat.add_exchange([message("s1", seq) for seq in range(1, 6)], version=1,
                                  now=2_000)
    await store.chat.add_exchange([message("s2", 1)], version=1, now=2_000)
    assert await store.chat.prune("s1", 2) == 3
    assert await store.chat.prune("s1", 2) == 0
    assert await store.chat.prune("s2", 5) == 0
    assert [m.seq for m in await store.chat.messages("s1")] == [4, 5]
    assert await store.chat.last_seq("s1") == 5
    assert [m.seq for m in await store.chat.messages("s2")] == [1]


async def test_sessions_are_found_by_the_state_of_their_workflow(store: Repositories) -> None:
    for id, state in (("s1", "idle"), ("s2", "responding"), ("s3", "closed")):
        await store.chat.create_session(session(id))
        await store.workflows.save(WorkflowInstance(
            id=f"wf-{id}", workflow="message-session", definition_hash="h", definition_version=1,
            state=state, data={}, created_at=1, state_entered_at=1, updated_at=1), [])
    found = await store.chat.sessions_in_states(["responding", "idle"])
    assert sorted(found) == [("s1", "wf-s1"), ("s2", "wf-s2")]


async def test_sessions_and_messages_survive_a_restart(store_backend: Backend,
                                                      store: Repositories) -> None:
    await store.chat.create_session(session("s1"))
    await store.chat.add_user_message(message("s1", 1), version=1, now=2_000)
    store.chat.start_reply(message("s1", 2, "assistant", status="streaming", content="par"))
    reopened = await store_backend.reopen()
    assert [m.seq for m in await reopened.chat.messages("s1")] == [1, 2]
    assert [m.id for m in await reopened.chat.streaming()] == ["s1-m2"]
