"""Watch the skill folders; each debounced batch of changes reloads the skills.

The folder list is read again on ``restart`` (a plugin added or removed folders); the watching
itself is ``aman.watching.FolderWatcher``, shared with workflow definitions.
"""

from __future__ import annotations

from aman.skills.registry import SkillService
from aman.watching import FolderWatcher, relevant

__all__ = ["SkillWatcher", "relevant"]


class SkillWatcher(FolderWatcher):
    """The skill service's folders, reloaded with reason ``watch``."""

    def __init__(self, service: SkillService, *, debounce_ms: int = 300, step_ms: int = 50) -> None:
        super().__init__("skills", lambda: service.dirs, lambda: service.reload(reason="watch"),
                         debounce_ms=debounce_ms, step_ms=step_ms)
