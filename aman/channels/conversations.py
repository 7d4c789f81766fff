"""ConversationService: IM channels that hold conversations with the agent.

A channel instance with ``chat: {agent_id, session_per}`` turns each inbound ``message_received``
into a message of a chat session chosen by its conversation key (per chat, thread or user),
created on first contact and remembered in SQLite across restarts. Whatever the agent then says
in a bound session goes back to where the latest message came from, through the outbox: replies
(``agent:reply_ready``), failures (``llm_error``, with a hint to ``/retry``) and tool approval
prompts (``tool_auth_required``), which the person answers with ``/approve <code>`` or
``/deny <code>`` in the same chat. ``/new``, ``/stop``, ``/retry`` and ``/help`` are commands
too; any other text (``/skill`` commands included) is a chat message.

Strangers never reach this service: the inbox drops their messages before the bus. A platform
delivery is handled once: its identity is recorded when its message is stored, so a redelivery
(a crash before the handler finished) is recognised and skipped. With several daemons on one
store (webhooks may reach any of them), a conversation's messages are handled on one daemon at a
time (a hold on its key), so two first messages of one chat still open one session.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aman.channels.model import (
    ConversationRepository,
    ReplyTarget,
    conversation_key,
    reply_target,
)
from aman.channels.outbox import ChannelOutbox
from aman.channels.registry import ChannelRegistry
from aman.chat.errors import SessionClosedError, SessionNotFoundError
from aman.chat.model import NoHolds, SessionHolds
from aman.chat.turn import LLM_ERROR, REPLY_READY
from aman.clock import Clock
from aman.config.reach import ChannelSettings
from aman.errors import AmanError, NotFoundError
from aman.events.filters import EventFilter
from aman.events.model import Event
from aman.events.types import MESSAGE_RECEIVED
from aman.tools.approvals import TOOL_AUTH_REQUIRED

if TYPE_CHECKING:
    from aman.chat.sessions import ChatService
    from aman.events.bus import EventBus
    from aman.events.subscribers import Unsubscribe
    from aman.tools.approvals import ApprovalService

log = logging.getLogger(__name__)

INBOUND_HANDLER = "im-conversations"
OUTBOUND_HANDLER = "im-replies"
HELP = ("Commands: /new starts a fresh conversation, /stop stops the reply being written, "
        "/retry writes the last reply again, /approve <code> or /deny <code> answers a tool "
        "request. Anything else goes to the agent.")


@dataclass(frozen=True)
class _Inbound:
    """One channel message this service handles."""

    platform: str
    instance: str
    config: ChannelSettings
    payload: dict[str, Any]
    target: ReplyTarget
    key: str

    @property
    def operator(self) -> str:
        user = (self.payload.get("user") or {}).get("id") or "unknown"
        return f"im:{self.platform}/{self.instance}:{user}"


class ConversationService:
    """Binds channel conversations to chat sessions and relays what the agent says back."""

    def __init__(self, *, registry: ChannelRegistry, repo: ConversationRepository,
                 outbox: ChannelOutbox, chat: ChatService, approvals: ApprovalService,
                 bus: EventBus, clock: Clock, holds: SessionHolds | None = None) -> None:
        self._registry = registry
        self._holds = holds or NoHolds()
        self._repo = repo
        self._outbox = outbox
        self._chat = chat
        self._approvals = approvals
        self._bus = bus
        self._clock = clock
        self._unsubscribes: list[Unsubscribe] = []

    def start(self) -> None:
        """Subscribe both directions (before dispatch opens: recovered events are handled)."""
        self._unsubscribes = [
            self._bus.subscribe(INBOUND_HANDLER, self._on_message, EventFilter(
                event_types=frozenset({MESSAGE_RECEIVED}), sources=frozenset({"im:*"}))),
            self._bus.subscribe(OUTBOUND_HANDLER, self._on_agent_event, EventFilter(
                event_types=frozenset({REPLY_READY, LLM_ERROR, TOOL_AUTH_REQUIRED}))),
        ]

    async def recover(self, window_ms: int) -> int:
        """Queue replies a crash left unsent: finished, but their ``agent:reply_ready`` was never
        committed. Replies whose delivery exists (sent, pending or parked) are refused by the
        bus's dedup index, so only ``window_ms`` back (inside the dedup window) is safe."""
        if window_ms <= 0:
            return 0
        queued = 0
        since = self._clock.now_ms() - window_ms
        for message_id, session_id, content in await self._repo.unsent_replies(since):
            target = await self._repo.target_of(session_id)
            if target is None or not content.strip():
                continue
            queued += await self._outbox.enqueue(target, content,
                                                 delivery_key=f"reply:{message_id}",
                                                 kind="recovered", session_id=session_id)
        if queued:
            log.warning("queued %d IM repl%s a crash left unsent", queued,
                        "y" if queued == 1 else "ies")
        return queued

    async def stop(self) -> None:
        """Unsubscribe."""
        for unsubscribe in self._unsubscribes:
            unsubscribe()
        self._unsubscribes.clear()

    # --- inbound -------------------------------------------------------------------------

    async def _on_message(self, event: Event) -> None:
        inbound = self._inbound(event)
        if inbound is None:
            return
        name = f"im-conversation:{self._key(inbound)}"
        await self._holds.acquire(name)
        try:
            await self._handle(inbound)
        finally:
            await self._holds.release(name)

    async def _handle(self, inbound: _Inbound) -> None:
        if await self._repo.inbound_taken(inbound.key):
            return
        text = str(inbound.payload.get("text") or "").strip()
        command, _, argument = text.partition(" ")
        command = command.split("@", 1)[0].lower()  # Telegram sends /new@my_bot in groups
        session_id = message_id = None
        if command in _COMMANDS:
            notice = await _COMMANDS[command](self, inbound, argument.strip())
        else:
            session_id, message_id, notice = await self._converse(inbound, text)
        if notice:
            await self._outbox.enqueue(inbound.target, notice, delivery_key=f"notice:{inbound.key}",
                                       kind="notice", session_id=session_id)
        await self._repo.take_inbound(inbound.key, session_id, message_id, self._clock.now_ms())

    def _inbound(self, event: Event) -> _Inbound | None:
        payload = event.payload
        platform, instance = payload.get("platform"), payload.get("instance")
        if not isinstance(platform, str) or not isinstance(instance, str):
            return None
        try:
            config = self._registry.get(platform, instance).config
        except NotFoundError:
            return None  # the channel was removed (or its plugin disabled) since
        if config.chat is None or "chat_id" not in payload or payload.get("edited"):
            return None  # an edit of an answered message is not a new question
        return _Inbound(platform, instance, config, payload,
                        reply_target(platform, instance, payload),
                        event.dedup_key or f"event:{event.id}")

    def _key(self, inbound: _Inbound) -> str:
        assert inbound.config.chat is not None
        return conversation_key(inbound.platform, inbound.instance,
                                inbound.config.chat.session_per, inbound.payload)

    async def _converse(self, inbound: _Inbound,
                        text: str) -> tuple[str | None, str | None, str | None]:
        """Send ``text`` to the conversation's session: (session, message, notice on refusal)."""
        key = self._key(inbound)
        session_id = await self._repo.session_for(key)
        if session_id is None:
            session_id = await self._open(inbound, key)
        else:
            self._repo.retarget(session_id, inbound.target, self._clock.now_ms())
        try:
            try:
                receipt = await self._chat.send(session_id, text, expected_version=None,
                                                operator=inbound.operator)
            except (SessionClosedError, SessionNotFoundError):
                session_id = await self._open(inbound, key)  # closed or deleted elsewhere
                receipt = await self._chat.send(session_id, text, expected_version=None,
                                                operator=inbound.operator)
        except AmanError as exc:
            return session_id, None, _refusal(exc)
        return session_id, receipt.message_id, None

    async def _open(self, inbound: _Inbound, key: str) -> str:
        assert inbound.config.chat is not None
        user = inbound.payload.get("user") or {}
        who = user.get("name") or user.get("username") or inbound.target.chat_id
        session = await self._chat.create(
            agent_id=inbound.config.chat.agent_id or inbound.config.agent_id,
            session_type="persistent", title=f"{inbound.platform}: {who}",
            operator=inbound.operator)
        await self._repo.bind(key, inbound.target, session["id"], self._clock.now_ms())
        return str(session["id"])

    # --- commands ------------------------------------------------------------------------

    async def _new(self, inbound: _Inbound, argument: str) -> str:
        try:
            await self._open(inbound, self._key(inbound))
        except AmanError as exc:
            return _refusal(exc)
        return "Started a fresh conversation."

    async def _stop(self, inbound: _Inbound, argument: str) -> str:
        session_id = await self._repo.session_for(self._key(inbound))
        if session_id is None:
            return "Nothing to stop."
        result = await self._chat.stop_generation(session_id)
        return "Stopped." if result["stopped"] or result["dropped"] else "Nothing to stop."

    async def _retry(self, inbound: _Inbound, argument: str) -> str | None:
        session_id = await self._repo.session_for(self._key(inbound))
        if session_id is None:
            return "Nothing to retry yet."
        try:
            await self._chat.retry(session_id)
        except AmanError as exc:
            return _refusal(exc)
        return None  # the new reply is the answer

    async def _approve(self, inbound: _Inbound, argument: str) -> str:
        return await self._answer(inbound, argument, approved=True)

    async def _deny(self, inbound: _Inbound, argument: str) -> str:
        return await self._answer(inbound, argument, approved=False)

    async def _answer(self, inbound: _Inbound, code: str, *, approved: bool) -> str:
        verb = "approve" if approved else "deny"
        if not code:
            return f"Send /{verb} <code> with the code from the request."
        code = code.split()[0].upper()
        session_id = self._approvals.session_of(code)
        target = await self._repo.target_of(session_id) if session_id else None
        if target is None or (target.platform, target.instance, target.chat_id) != (
                inbound.platform, inbound.instance, inbound.target.chat_id):
            # Only requests raised in this chat can be answered from it.
            return f"No pending request with code {code} in this chat."
        try:
            result = await self._approvals.respond(code, approved, None, inbound.operator)
        except AmanError as exc:
            return _refusal(exc)
        verdict = "Approved" if approved else "Denied"
        return f"{verdict}: {result.get('tool_name', 'the tool call')}."

    async def _help(self, inbound: _Inbound, argument: str) -> str:
        return HELP

    # --- outbound ------------------------------------------------------------------------

    async def _on_agent_event(self, event: Event) -> None:
        payload = event.payload
        session_id = payload.get("session_id")
        if not isinstance(session_id, str):
            return
        target = await self._repo.target_of(session_id)
        if target is None:
            return
        if event.event_type == REPLY_READY:
            text, key = str(payload.get("reply") or ""), f"reply:{payload.get('message_id')}"
        elif event.event_type == LLM_ERROR:
            text = f"The reply failed: {payload.get('error')}. Send /retry to try again."
            key = f"error:{payload.get('message_id')}"
        else:
            code = payload.get("code")
            text = (f"The agent wants to run {payload.get('tool_name')} "
                    f"({payload.get('sensitivity')} risk): {payload.get('arguments_summary')}\n"
                    f"Reply /approve {code} or /deny {code}.")
            key = f"approval:{payload.get('auth_id')}"
        if text.strip():
            await self._outbox.enqueue(target, text, delivery_key=key, kind=event.event_type,
                                       session_id=session_id)


_COMMANDS = {
    "/new": ConversationService._new,
    "/reset": ConversationService._new,
    "/stop": ConversationService._stop,
    "/retry": ConversationService._retry,
    "/approve": ConversationService._approve,
    "/deny": ConversationService._deny,
    "/help": ConversationService._help,
}


def _refusal(exc: AmanError) -> str:
    """A refusal as the person reads it in the chat."""
    return f"Not sent: {exc.message}"
