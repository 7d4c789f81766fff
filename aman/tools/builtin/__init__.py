"""The built-in tools, registered by the ``tools`` boot step.

``builtin_tools`` is the one list: a new built-in tool is one more entry here and in
``BUILTIN_TOOL_NAMES``. The tool modules are imported inside ``builtin_tools``: the boot step
claims the names and builds the tools on first use, so a daemon that never lists or calls a tool
does not hold their code and parameter models (idle memory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aman.chat.sessions import ChatService
    from aman.tools.builtin.exec import DetachedProcesses
    from aman.tools.builtin.files import SkillLookup
    from aman.tools.model import Tool

#: Every name ``builtin_tools`` returns when given ``chat`` (a test keeps the two in step).
BUILTIN_TOOL_NAMES = ("read", "write", "edit", "list", "find", "grep", "read_skill", "exec",
                      "http", "web_fetch", "delegate_task")


def builtin_tools(skills: SkillLookup, processes: DetachedProcesses | None = None,
                  chat: Callable[[], ChatService | None] | None = None) -> list[Tool]:
    """Every built-in tool, each with source ``builtin``.

    ``processes`` keeps detached ``exec`` runs; the boot step should pass the one whose
    ``stop_all`` it pushes on the stack (a fresh one is never stopped).
    ``chat`` returns the chat service at call time (tools are registered before chat starts);
    without it ``delegate_task`` is left out.
    """
    from aman.tools.builtin.agent import delegate_tool
    from aman.tools.builtin.exec import DetachedProcesses, exec_tool
    from aman.tools.builtin.files import file_tools
    from aman.tools.builtin.web import http_tool, web_fetch_tool

    tools = file_tools(skills)
    detached = processes if processes is not None else DetachedProcesses()
    tools += [exec_tool(detached), http_tool(), web_fetch_tool()]
    if chat is not None:
        tools.append(delegate_tool(chat))
    return tools
