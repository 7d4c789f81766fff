"""Chat crash recovery: replies a stopped daemon left streaming, and sessions it left mid-reply.

Replies left ``streaming`` become interrupted and their sessions (and any left processing or
retrying) move to error, so retry regenerates them. With several daemons on one store, a session
another daemon holds is being answered there right now, not cut short: it is left alone. A
session whose daemon died is free again (its hold died with it) and is recovered.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aman.chat import definition as d
from aman.chat.model import ChatRepository, SessionHolds
from aman.chat.queue import hold_name
from aman.clock import Clock

if TYPE_CHECKING:
    from aman.workflows.engine import WorkflowService

log = logging.getLogger(__name__)

#: States a crash can leave a session in while its reply was running.
RUNNING_STATES = (d.PROCESSING, d.RETRYING)
_INTERRUPTED = {"code": "interrupted",
                "message": "the daemon stopped while this reply was streaming",
                "hint": "POST /chat/session/{id}/retry regenerates it."}


async def recover(repo: ChatRepository, workflows: WorkflowService, holds: SessionHolds,
                  clock: Clock) -> dict[str, int]:
    """Interrupt what a crash cut short and move those sessions to error; the counts."""
    streaming = await repo.streaming()
    stuck = dict(await repo.sessions_in_states(RUNNING_STATES))
    for session_id in {m.session_id for m in streaming} - set(stuck):
        session = await repo.session(session_id)
        if session is not None:
            stuck[session_id] = session.instance_id
    held: list[str] = []
    try:
        for session_id in sorted({*stuck, *(m.session_id for m in streaming)}):
            if await holds.try_acquire(hold_name(session_id)):
                held.append(session_id)
        cut = [m for m in streaming if m.session_id in held]
        await repo.interrupt([m.id for m in cut], now=clock.now_ms(), error=_INTERRUPTED)
        moved = {s: instance for s, instance in stuck.items() if s in held}
        for session_id, instance_id in moved.items():
            await workflows.send(instance_id, d.LLM_ERROR,
                                 {"session_id": session_id, "reason": "recovered"})
    finally:
        for session_id in held:
            await holds.release(hold_name(session_id))
    if cut or moved:
        log.warning("chat recovery: %d reply(ies) interrupted, %d session(s) moved to error",
                    len(cut), len(moved))
    if len(held) < len(stuck):
        log.info("chat recovery: %d session(s) left to the daemons answering them",
                 len(stuck) - len(held))
    return {"interrupted": len(cut), "sessions": len(moved)}
