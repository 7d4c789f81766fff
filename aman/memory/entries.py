"""Memory entries: split and joined on a line holding ``§``, and changed by operations.

Pure functions, so every rule is table-tested. Files written by other runtimes that use the same
separator load unchanged; a file without separators is one entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from aman.memory.model import MemoryFullError, MemoryWriteError

SEPARATOR = "§"
_SPLIT = re.compile(r"^[ \t]*§[ \t]*$", re.M)
#: Phrases of an entry that tries to steer the agent instead of informing it; such entries are
#: kept (memory is the person's) but flagged for a human to look at.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|earlier|all|your)\b.{0,40}"
    r"\b(instructions?|rules?|soul|prompt|guidelines?)\b"
    r"|\b(reveal|print|show|send|leak|exfiltrate)\b.{0,40}\b(secrets?|api[_ -]?keys?|tokens?|"
    r"passwords?|system prompt|credentials?)\b"
    r"|\byou are now\b|\bnew instructions?\b", re.I | re.S)


def split(text: str) -> list[str]:
    """The entries of a file (blank ones dropped, each stripped)."""
    return [part.strip() for part in _SPLIT.split(text) if part.strip()]


def join(entries: Sequence[str]) -> str:
    """The file text of ``entries``."""
    return ("\n" + SEPARATOR + "\n").join(e.strip() for e in entries) + ("\n" if entries else "")


def flagged(entries: Sequence[str]) -> tuple[int, ...]:
    """Indexes of entries that read like instructions to the agent."""
    return tuple(i for i, text in enumerate(entries) if _INSTRUCTION.search(text))


def _only_match(entries: list[str], old_text: str) -> int:
    matches = [i for i, entry in enumerate(entries) if old_text in entry]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise MemoryWriteError(f"old_text {old_text[:80]!r} matches no entry; entries: "
                               + "; ".join(f"[{i}] {e[:60]}" for i, e in enumerate(entries)))
    raise MemoryWriteError(f"old_text {old_text[:80]!r} matches {len(matches)} entries; quote "
                           "more of the one you mean: "
                           + "; ".join(f"[{i}] {entries[i][:60]}" for i in matches))


def apply(entries: Sequence[str], operations: Sequence[dict[str, Any]], *,
          limit: int, usage_label: str) -> list[str]:
    """``entries`` after every operation, or an error and no change (all or nothing).

    Operations: ``{action: add, content}``, ``{action: replace, old_text, content}``,
    ``{action: remove, old_text}``. ``old_text`` must match exactly one entry.
    """
    result = list(entries)
    for op in operations:
        action, content = op.get("action"), (op.get("content") or "").strip()
        if action == "add":
            if not content:
                raise MemoryWriteError("add needs content")
            if SEPARATOR in content.splitlines():
                raise MemoryWriteError("an entry may not hold a line with only '§'")
            result.append(content)
        elif action in ("replace", "remove"):
            old = op.get("old_text") or ""
            if not old:
                raise MemoryWriteError(f"{action} needs old_text: a piece of the entry to change")
            index = _only_match(result, old)
            if action == "remove":
                del result[index]
            else:
                if not content:
                    raise MemoryWriteError("replace needs content (use remove to delete)")
                result[index] = content
        else:
            raise MemoryWriteError(f"unknown action {action!r}; use add, replace or remove")
    chars = sum(len(e) for e in result)
    if chars > limit:
        raise MemoryFullError(
            f"this would hold {chars} characters, over the limit of {limit} "
            f"(now {usage_label}); current entries: "
            + "; ".join(f"[{i}] {e}" for i, e in enumerate(entries)),
            details={"chars": chars, "limit": limit, "entries": list(entries)})
    return result
