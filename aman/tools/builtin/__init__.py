"""The built-in tools, registered by the ``tools`` boot step (issue #8).

``builtin_tools`` is the one list: a new built-in tool is one more entry here.
"""

from __future__ import annotations

from aman.tools.builtin.exec import DetachedProcesses, exec_tool
from aman.tools.builtin.files import SkillLookup, file_tools
from aman.tools.builtin.web import http_tool, web_fetch_tool
from aman.tools.model import Tool


def builtin_tools(skills: SkillLookup, processes: DetachedProcesses | None = None) -> list[Tool]:
    """Every built-in tool, each with source ``builtin``.

    ``processes`` keeps detached ``exec`` runs; the boot step should pass the one whose
    ``stop_all`` it pushes on the stack (a fresh one is never stopped).
    """
    tools = file_tools(skills)
    detached = processes if processes is not None else DetachedProcesses()
    tools += [exec_tool(detached), http_tool(), web_fetch_tool()]
    return tools
