"""Content policy and ``/skill-name`` expansion of user messages: pure functions.

Both run on a user message before it is stored (send steps 2 and 4). Neither does I/O; the
skills lookup is a small Protocol that ``SkillService`` satisfies, so tests pass a dict-backed
fake.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from aman.config.agents import ContentRule
from aman.errors import InvalidInputError, NotFoundError

#: What a message becomes under a ``replace_message`` rule.
BLOCKED_PLACEHOLDER = "[message blocked by content policy]"
#: ``/name rest``: the name as skills are named (aman.skills.model.NAME_PATTERN), then
#: whitespace or the end. ``/usr/bin ...`` (a path) or ``//x`` is therefore not a command.
_COMMAND = re.compile(r"/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?:\s+(.*))?", re.DOTALL)
#: How many close names an unknown-skill error suggests.
_CLOSE_NAMES = 5


class MessageBlockedError(InvalidInputError):
    """A content-policy rule with action ``block`` matched the message."""

    code = "message_blocked"
    hint = ("Rephrase the message without the blocked content, or ask the operator to change "
            "chat.content_policy.")


class UnknownSkillCommandError(InvalidInputError):
    """``/name`` names no loaded skill."""

    code = "unknown_skill"
    hint = ("GET /skills lists the skills; write /<name> with one of them. To send text that "
            "starts with a slash, begin it with //.")


class SkillUnavailableError(InvalidInputError):
    """``/name`` names a skill that cannot be inlined (disabled, broken, event skill, ...)."""

    code = "skill_unavailable"
    hint = "GET /skill/{name} shows its kind, status and whether it is enabled."


class AppliedRule(NamedTuple):
    """A rule that changed the message: its name and action."""

    rule: str
    action: str


@dataclass(frozen=True)
class PolicyOutcome:
    """The message after the policy, and the rules that changed it (to audit)."""

    text: str
    applied: list[AppliedRule]

    @property
    def changed(self) -> bool:
        """Whether any replacement happened."""
        return bool(self.applied)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _literal(replacement: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement inserting ``replacement`` as is (no backreferences)."""
    return lambda _: replacement


def apply_content_policy(text: str, rules: Sequence[ContentRule]) -> PolicyOutcome:
    """Apply ``rules`` in order (case-insensitive regular expressions).

    ``block`` raises ``MessageBlockedError`` naming the rule; ``replace_message`` turns the whole
    message into ``BLOCKED_PLACEHOLDER`` and ends the check (nothing of the message is left);
    ``replace_token`` replaces every match with the rule's replacement, taken literally.
    """
    applied: list[AppliedRule] = []
    for rule in rules:
        pattern = _compiled(rule.pattern)
        if not pattern.search(text):
            continue
        if rule.action == "block":
            raise MessageBlockedError(
                f"message blocked by content policy rule {rule.name!r}",
                details={"rule": rule.name})
        if rule.action == "replace_message":
            applied.append(AppliedRule(rule.name, rule.action))
            return PolicyOutcome(BLOCKED_PLACEHOLDER, applied)
        text = pattern.sub(_literal(rule.replacement), text)
        applied.append(AppliedRule(rule.name, rule.action))
    return PolicyOutcome(text, applied)


class SkillLike(Protocol):
    """What expansion reads of a skill (``aman.skills.model.Skill``)."""

    @property
    def name(self) -> str:
        """Skill name."""
        ...

    @property
    def kind(self) -> str:
        """markdown or event."""
        ...

    @property
    def ok(self) -> bool:
        """Parsed and validated."""
        ...

    @property
    def body(self) -> str:
        """The SKILL.md body after the frontmatter."""
        ...

    @property
    def description(self) -> str:
        """One-line description."""
        ...

    @property
    def user_invocable(self) -> bool:
        """Whether a user may call it by ``/name``."""
        ...


class SkillLookup(Protocol):
    """The part of ``SkillService`` expansion needs."""

    def get(self, name: str) -> Any:
        """The skill (a ``SkillLike``); raises a ``NotFoundError`` when there is none."""
        ...

    def enabled(self, name: str) -> bool:
        """Whether ``name`` is switched on."""
        ...

    def listing(self) -> list[dict[str, Any]]:
        """Every skill as a dict with at least ``name``."""
        ...


@dataclass(frozen=True)
class SkillExpansion:
    """A ``/name rest`` message: the skill, what the user typed after it, and the turn's text."""

    skill_name: str
    user_input: str
    text: str


def expand_skill_command(text: str, skills: SkillLookup, *,
                         allowed: Collection[str] | None = None) -> SkillExpansion | None:
    """Inline the skill named by a leading ``/name`` for this turn; None when not a command.

    Only a SKILL.md skill that loads, is enabled, is user-invocable and (when ``allowed`` is
    given: the agent's ``skills`` list) allowed can be inlined. An unknown name raises
    ``UnknownSkillCommandError`` listing close names; a known one that cannot be inlined
    raises ``SkillUnavailableError`` saying why. ``//...`` and a bare ``/`` are plain text.
    """
    match = _COMMAND.fullmatch(text.strip())
    if match is None:
        return None
    name, rest = match.group(1), (match.group(2) or "").strip()
    try:
        skill: SkillLike = skills.get(name)
    except NotFoundError:
        names = [item["name"] for item in skills.listing()
                 if allowed is None or item["name"] in allowed]
        close = difflib.get_close_matches(name, names, n=_CLOSE_NAMES, cutoff=0.5)
        suggestion = (f"; close names: {', '.join(close)}" if close
                      else f"; skills: {', '.join(sorted(names)[:20]) or 'none loaded'}")
        raise UnknownSkillCommandError(f"no skill named {name!r} for /{name}{suggestion}",
                                       details={"skill": name, "close": close}) from None
    why = _not_inlinable(skill, skills.enabled(name), allowed)
    if why:
        raise SkillUnavailableError(f"skill {name!r} cannot be used with /{name}: {why}",
                                    details={"skill": name},
                                    hint=f"GET /skill/{name} shows its kind, status and whether "
                                         "it is enabled.")
    return SkillExpansion(name, rest, _augmented(skill, rest))


def _not_inlinable(skill: SkillLike, enabled: bool, allowed: Collection[str] | None) -> str | None:
    if not skill.ok:
        return "it does not load (see its error)"
    if skill.kind != "markdown":
        return "it is an event skill; only SKILL.md skills can be inlined"
    if not enabled:
        return f"it is disabled (POST /skill/{skill.name}/enable)"
    if not skill.user_invocable:
        return "it is not user-invocable (user-invocable: false)"
    if allowed is not None and skill.name not in allowed:
        return "this agent may not use it (agents.<id>.skills)"
    return None


def _augmented(skill: SkillLike, user_input: str) -> str:
    """The turn's user text: the skill's instructions, then what the user asked."""
    request = user_input or "(no further input: apply the skill as its instructions say)"
    return (f'Use the skill "{skill.name}" for this request ({skill.description}). '
            f"Its instructions:\n\n<skill name=\"{skill.name}\">\n{skill.body.strip()}\n"
            f"</skill>\n\n{request}")
