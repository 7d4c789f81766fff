"""The agent turn's pure parts (prompt assembly, trimming, chunk coalescing) and its events."""

from __future__ import annotations

from aman.chat.model import StoredMessage
from aman.chat.turn import _Chunks, build_prompt, estimate_tokens
from aman.core.app import create_app
from aman.events.model import Event
from tests.chat.helpers import create_session, scripted, settle
from tests.helpers import SettingsFactory, runtime_of, wait_for


def message(seq: int, role: str, text: str, status: str = "complete") -> StoredMessage:
    return StoredMessage(id=f"m{seq}", session_id="s", seq=seq, role=role, content=text,
                         status=status, created_at=0, updated_at=0)


def test_prompt_is_system_then_complete_history() -> None:
    history = [message(1, "user", "hi"), message(2, "assistant", "cut", "interrupted"),
               message(3, "user", "again"), message(4, "assistant", "old", "superseded"),
               message(5, "assistant", "fine")]
    prompt = build_prompt("SYS", history, max_context_tokens=4096, max_output_tokens=512)
    assert [(m.role, m.content) for m in prompt.messages] == [
        ("system", "SYS"), ("user", "hi"), ("user", "again"), ("assistant", "fine")]
    assert prompt.dropped_messages == 0


def test_history_is_trimmed_oldest_first_but_keeps_the_newest() -> None:
    history = [message(i, "user" if i % 2 else "assistant", "x" * 400) for i in range(1, 11)]
    per_message = estimate_tokens("x" * 400)
    prompt = build_prompt("", history, max_context_tokens=3 * per_message + 10,
                          max_output_tokens=10)
    assert [m.content for m in prompt.messages] == ["x" * 400] * 3
    assert prompt.dropped_messages == 7 and prompt.dropped_tokens == 7 * per_message
    alone = build_prompt("", history[-1:], max_context_tokens=300, max_output_tokens=290)
    assert len(alone.messages) == 1  # over budget, still sent: the provider says so


def test_skill_messages_show_the_model_their_expanded_text() -> None:
    expanded = message(1, "user", "/summarise x").with_changes(model_text="Use the skill ...")
    prompt = build_prompt("", [expanded], max_context_tokens=4096, max_output_tokens=10)
    assert prompt.messages[0].content == "Use the skill ..."


async def test_chunks_are_coalesced_to_one_per_interval() -> None:
    sent: list[tuple[str, int]] = []
    chunks = _Chunks(lambda text, index: sent.append((text, index)), 0.05)
    chunks.add("a")  # the first goes out at once
    assert sent == [("a", 0)]
    for piece in "bcd":
        chunks.add(piece)
    assert sent == [("a", 0)]
    await wait_for(lambda: len(sent) == 2, what="the interval's timer to flush what waited")
    assert sent == [("a", 0), ("bcd", 1)]
    chunks.add("e")
    chunks.flush()
    assert sent[-1] == ("e", 2)


async def test_trimmed_history_is_announced(make_settings: SettingsFactory) -> None:
    settings = scripted(make_settings, "ok", **{
        "agents": {"aman": {"max_context_tokens": 256, "max_output_tokens": 200}},
        "souls.active": "default"})
    app = create_app(settings)
    async with app.test_app():
        rt = runtime_of(app)
        await wait_for(lambda: rt.ready)
        events: list[Event] = []
        rt.bus.observe(events.append)
        client = app.test_client()
        session = await create_session(client)
        for text in ("first " * 30, "second " * 30):
            await client.post(f"/chat/session/{session['id']}/send",
                              json={"text": text, "wait": True})
        await settle(client, session["id"])
        await wait_for(lambda: any(e.event_type == "agent:history_trimmed" for e in events))
        trimmed = next(e for e in events if e.event_type == "agent:history_trimmed")
        assert trimmed.payload["session_id"] == session["id"]
        assert trimmed.payload["dropped_messages"] >= 1
