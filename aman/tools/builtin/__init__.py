"""The built-in tools, registered by the ``tools`` boot step (issue #8).

``builtin_tools`` is the one list: a new built-in tool is one more entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aman.tools.builtin.agent import delegate_tool
from aman.tools.builtin.exec import DetachedProcesses, exec_tool
from aman.tools.builtin.files import SkillLookup, file_tools
from aman.tools.builtin.web import http_tool, web_fetch_tool
from aman.tools.model import Tool

if TYPE_CHECKING:
    from aman.chat.sessions import ChatService


def builtin_tools(skills: SkillLookup, processes: DetachedProcesses | None = None,
                  chat: Callable[[], ChatService | None] | None = None) -> list[Tool]:
    """Every built-in tool, each with source ``builtin``.

    ``processes`` keeps detached ``exec`` runs; the boot step should pass the one whose
    ``stop_all`` it pushes on the stack (a fresh one is never stopped).
    ``chat`` returns the chat service at call time (tools are registered before chat starts);
    without it ``delegate_task`` is left out.
    """
    tools = file_tools(skills)
    detached = processes if processes is not None else DetachedProcesses()
    tools += [exec_tool(detached), http_tool(), web_fetch_tool()]
    if chat is not None:
        tools.append(delegate_tool(chat))
    return tools
