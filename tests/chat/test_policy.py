"""Content policy and /skill-name expansion: pure functions, table-tested."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from aman.chat.policy import (
    BLOCKED_PLACEHOLDER,
    MessageBlockedError,
    SkillExpansion,
    SkillUnavailableError,
    UnknownSkillCommandError,
    apply_content_policy,
    expand_skill_command,
)
from aman.config.agents import ContentRule
from aman.errors import InvalidInputError, NotFoundError


def rule(name: str, pattern: str, action: str, **extra: Any) -> ContentRule:
    return ContentRule.model_validate({"name": name, "pattern": pattern, "action": action, **extra})


# --- content policy -----------------------------------------------------------------------------


def test_no_rules_or_no_match_leaves_the_text() -> None:
    assert apply_content_policy("hello", []).text == "hello"
    outcome = apply_content_policy("hello", [rule("r", "secret", "block")])
    assert outcome.text == "hello" and outcome.applied == [] and not outcome.changed


def test_block_raises_naming_the_rule_case_insensitively() -> None:
    with pytest.raises(MessageBlockedError) as caught:
        apply_content_policy("my PASSWORD is x", [rule("no-passwords", r"password", "block")])
    error = caught.value
    assert isinstance(error, InvalidInputError) and error.code == "message_blocked"
    assert "'no-passwords'" in error.message and "Rephrase" in error.hint
    assert error.details == {"rule": "no-passwords"}


def test_replace_message_replaces_everything_and_ends_the_check() -> None:
    outcome = apply_content_policy("buy crypto now", [
        rule("spam", "crypto", "replace_message"), rule("never", "blocked", "block")])
    assert outcome.text == BLOCKED_PLACEHOLDER == "[message blocked by content policy]"
    assert outcome.applied == [("spam", "replace_message")]


def test_replace_token_substitutes_every_match_literally() -> None:
    outcome = apply_content_policy("card 4111-1111 and 4222-2222", [
        rule("cards", r"\d{4}-\d{4}", "replace_token"),
        rule("slash", "AND", "replace_token", replacement=r"\1&"),
    ])
    assert outcome.text == r"card [redacted] \1& [redacted]"
    assert outcome.applied == [("cards", "replace_token"), ("slash", "replace_token")]
    assert outcome.applied[0].rule == "cards" and outcome.changed


def test_rules_apply_in_order_so_a_replacement_can_hide_text_from_a_later_block() -> None:
    rules = [rule("mask", "token=\\w+", "replace_token", replacement="token=***"),
             rule("leak", "token=[a-z]", "block")]
    assert apply_content_policy("token=abc", rules).text == "token=***"
    with pytest.raises(MessageBlockedError, match="'leak'"):
        apply_content_policy("token=abc", list(reversed(rules)))


# --- /skill-name expansion ----------------------------------------------------------------------


@dataclass(frozen=True)
class FakeSkill:
    name: str
    kind: str = "markdown"
    ok: bool = True
    body: str = "Step 1: read.\nStep 2: summarize.\n"
    description: str = "Summarize a text"
    user_invocable: bool = True


class FakeSkills:
    def __init__(self, *skills: FakeSkill, disabled: tuple[str, ...] = ()) -> None:
        self.skills = {s.name: s for s in skills}
        self.disabled = set(disabled)

    def get(self, name: str) -> FakeSkill:
        if name not in self.skills:
            raise NotFoundError(f"no skill named {name!r}")
        return self.skills[name]

    def enabled(self, name: str) -> bool:
        return name not in self.disabled

    def listing(self) -> list[dict[str, Any]]:
        return [{"name": n} for n in sorted(self.skills)]


SKILLS = FakeSkills(FakeSkill("summarize"), FakeSkill("summary-short"), FakeSkill("translate"),
                    FakeSkill("on-file", kind="event", body=""), FakeSkill("off"),
                    FakeSkill("broken", ok=False), FakeSkill("hidden", user_invocable=False),
                    disabled=("off",))


@pytest.mark.parametrize("text", [
    "hello", "", "/", "/ summarize this", "//summarize this", "/usr/bin/python is slow",
    "a /summarize in the middle", "/summarize!",
])
def test_text_that_is_not_a_command_is_left_alone(text: str) -> None:
    assert expand_skill_command(text, SKILLS) is None


def test_a_command_inlines_the_skill_body_for_this_turn() -> None:
    expansion = expand_skill_command("/summarize  the report\nsecond line", SKILLS)
    assert isinstance(expansion, SkillExpansion)
    assert expansion.skill_name == "summarize"
    assert expansion.user_input == "the report\nsecond line"
    assert '<skill name="summarize">\nStep 1: read.\nStep 2: summarize.\n</skill>' in expansion.text
    assert expansion.text.endswith("the report\nsecond line")
    assert "Summarize a text" in expansion.text


def test_a_bare_command_asks_to_apply_the_skill() -> None:
    expansion = expand_skill_command("/translate", SKILLS)
    assert expansion is not None and expansion.user_input == ""
    assert "apply the skill" in expansion.text


def test_an_unknown_name_is_400_listing_close_names() -> None:
    with pytest.raises(UnknownSkillCommandError) as caught:
        expand_skill_command("/sumarize this", SKILLS)
    error = caught.value
    assert isinstance(error, InvalidInputError) and error.code == "unknown_skill"
    assert "no skill named 'sumarize'" in error.message and "summarize" in error.message
    assert error.details["close"][0] == "summarize"
    with pytest.raises(UnknownSkillCommandError, match="skills: broken, hidden"):
        expand_skill_command("/zzzzzz", SKILLS)


@pytest.mark.parametrize(("name", "why"), [
    ("on-file", "event skill"), ("off", "disabled"), ("broken", "does not load"),
    ("hidden", "not user-invocable"),
])
def test_a_known_skill_that_cannot_be_inlined_says_why(name: str, why: str) -> None:
    with pytest.raises(SkillUnavailableError, match=why) as caught:
        expand_skill_command(f"/{name} go", SKILLS)
    assert caught.value.code == "skill_unavailable"


def test_an_agents_skill_list_limits_commands_and_suggestions() -> None:
    with pytest.raises(SkillUnavailableError, match="this agent may not use it"):
        expand_skill_command("/summarize x", SKILLS, allowed=["translate"])
    with pytest.raises(UnknownSkillCommandError) as caught:
        expand_skill_command("/translat x", SKILLS, allowed=["summarize"])
    assert caught.value.details["close"] == []
    assert expand_skill_command("/translate x", SKILLS, allowed=["translate"]) is not None


async def test_the_real_skill_service_satisfies_the_lookup(runtime: Any) -> None:
    # The shipped examples: a SKILL.md skill and an event skill (skills/examples).
    expansion = expand_skill_command("/summarize-notes my notes", runtime.skills)
    assert expansion is not None and expansion.skill_name == "summarize-notes"
    assert runtime.skills.get("summarize-notes").body.strip() in expansion.text
    with pytest.raises(SkillUnavailableError, match="event skill"):
        expand_skill_command("/ping now", runtime.skills)
    with pytest.raises(UnknownSkillCommandError, match="summarize-notes"):
        expand_skill_command("/summarize-note x", runtime.skills)
