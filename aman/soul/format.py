"""The soul file format: parse and validate SOUL.md, compile the system prompt, match boundaries.

Pure functions over text, so every rule is table-tested without a daemon. Format: a
``# Name`` title, then ``## <section>`` headings (case-insensitive) of which ``identity``,
``core`` and ``vibe`` are free text and ``expertise``, ``boundaries`` and ``preferences`` are
bullet lists. Unknown sections are kept in order and passed through to the prompt.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from aman.errors import ValidationFailedError

#: Largest soul accepted; a persona is prose for a prompt, not a document store.
MAX_SOUL_BYTES = 64 * 1024
TEXT_SECTIONS = ("identity", "core", "vibe")
LIST_SECTIONS = ("expertise", "boundaries", "preferences")
KNOWN_SECTIONS = (*TEXT_SECTIONS, *LIST_SECTIONS)
#: Phrases shorter than this are too common to block on ("never x").
_MIN_PHRASE_CHARS = 3
#: A skill's description in the prompt index is cut to the length the skill format allows.
SKILL_DESCRIPTION_LIMIT = 1024
_NEGATIONS = ("never ", "do not ", "don't ", "dont ")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_TITLE = re.compile(r"^#\s+(\S.*?)\s*#*\s*$")
_SECTION = re.compile(r"^##\s+(\S.*?)\s*#*\s*$")
#: '#x' or '##x' or a bare '#' / '##': meant as a heading but not one.
_BAD_HEADING = re.compile(r"^#{1,2}(?:[^#\s]|\s*$)")


class SoulSection(BaseModel):
    """A section the format does not know; kept verbatim for the prompt."""

    model_config = ConfigDict(frozen=True)

    title: str
    body: str


class Soul(BaseModel):
    """One parsed soul (frozen)."""

    model_config = ConfigDict(frozen=True)

    name: str
    identity: str = ""
    core: str = ""
    expertise: tuple[str, ...] = ()
    boundaries: tuple[str, ...] = ()
    vibe: str = ""
    preferences: tuple[str, ...] = ()
    preamble: str = ""
    extra: tuple[SoulSection, ...] = ()
    #: Section headings as written, in file order.
    sections: tuple[str, ...] = ()


class BoundaryMatch(BaseModel):
    """Which boundary a text ran into, and the phrase that matched."""

    model_config = ConfigDict(frozen=True)

    boundary: str
    matched_phrase: str


class SoulFormatError(ValidationFailedError):
    """A soul's text does not follow the format; the message names the line."""

    code = "invalid_soul"
    hint = "Start with '# Name', then '## identity' or '## core' sections; see souls/default.md."


def content_hash(content: str) -> str:
    """SHA-256 of the UTF-8 content, hex."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _fail(message: str, line: int | None, where: str) -> SoulFormatError:
    at = f"{where} line {line}" if line else where
    field = {"path": where, "message": message, "type": "invalid_soul"}
    if line:
        field["line"] = line  # type: ignore[assignment]
    return SoulFormatError(f"invalid soul ({at}): {message}", details={"fields": [field]})


def parse_soul(content: str, *, where: str = "soul") -> Soul:
    """Parse and validate ``content``; raise ``SoulFormatError`` naming ``where`` and the line."""
    if len(content.encode("utf-8")) > MAX_SOUL_BYTES:
        raise _fail(f"larger than {MAX_SOUL_BYTES} bytes", None, where)
    if "\x00" in content:
        raise _fail("contains a NUL character; a soul is text", None, where)
    name: str | None = None
    preamble: list[str] = []
    sections: list[tuple[str, int, list[str]]] = []
    seen: dict[str, int] = {}
    in_fence = False
    for number, line in enumerate(content.splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        if not in_fence and (heading := _heading(line, number, where)) is not None:
            level, text = heading
            if level == 1:
                if name is not None or sections:
                    raise _fail(f"a second '# {text}' title; a soul has one title", number, where)
                name = text
                continue
            if name is None:
                raise _fail(f"section '## {text}' before the '# Name' title", number, where)
            key = text.lower()
            if key in seen:
                raise _fail(f"section '## {text}' repeats the one at line {seen[key]}", number,
                            where)
            seen[key] = number
            sections.append((text, number, []))
            continue
        if sections:
            sections[-1][2].append(line)
        elif line.strip():
            if name is None:
                raise _fail("text before the '# Name' title", number, where)
            preamble.append(line)
    if name is None:
        raise _fail("missing the '# Name' title on the first heading", None, where)
    fields: dict[str, Any] = {}
    extra = []
    for title, _line, body in sections:
        key = title.lower()
        if key in TEXT_SECTIONS:
            fields[key] = _text(body)
        elif key in LIST_SECTIONS:
            fields[key] = _bullets(body)
        else:
            extra.append(SoulSection(title=title, body=_text(body)))
    # The persona itself: identity or core, or, as other runtimes write a SOUL.md, the text
    # under the title or sections of their own ("## Core Truths", "## Personality").
    if not (fields.get("identity") or fields.get("core") or _text(preamble)
            or any(section.body for section in extra)):
        raise _fail("needs a non-empty '## identity' or '## core' section (or text of its own "
                    "under the title)", None, where)
    return Soul(name=name, preamble=_text(preamble), extra=tuple(extra),
                sections=tuple(title for title, _, _ in sections), **fields)


def _heading(line: str, number: int, where: str) -> tuple[int, str] | None:
    if not line.startswith("#"):
        return None
    if match := _SECTION.match(line):
        return 2, match.group(1)
    if match := _TITLE.match(line):
        return 1, match.group(1)
    if _BAD_HEADING.match(line):
        raise _fail(f"malformed heading {line.strip()[:60]!r}: write '# Name' or '## section' "
                    "with a space after the #", number, where)
    return None  # ### and deeper belong to the section's body


def _text(lines: Sequence[str]) -> str:
    return "\n".join(lines).strip()


def _bullets(lines: Sequence[str]) -> tuple[str, ...]:
    items: list[str] = []
    bulleted = any(_BULLET.match(line) for line in lines)
    for line in lines:
        if not line.strip():
            continue
        match = _BULLET.match(line)
        if match:
            items.append(match.group(1).strip())
        elif bulleted and items:  # a wrapped bullet continues the previous item
            items[-1] = f"{items[-1]} {line.strip()}"
        else:
            items.append(line.strip())
    return tuple(item for item in items if item)


# --- the system prompt -------------------------------------------------------------------------


def compile_prompt(soul: Soul, skills: Sequence[dict[str, Any]] = ()) -> str:
    """The system prompt: name, identity, core, expertise, vibe, preferences, other sections,
    boundaries, then the index of LLM-visible skills."""
    parts = [f"You are {soul.name}."]
    if soul.preamble:
        parts.append(soul.preamble)
    if soul.identity:
        parts.append(f"## Identity\n{soul.identity}")
    if soul.core:
        parts.append(f"## Core\n{soul.core}")
    if soul.expertise:
        parts.append("## Expertise\n" + _list(soul.expertise))
    if soul.vibe:
        parts.append(f"## Vibe\n{soul.vibe}")
    if soul.preferences:
        parts.append("## Preferences\n" + _list(soul.preferences))
    parts.extend(f"## {section.title}\n{section.body}" for section in soul.extra if section.body)
    if soul.boundaries:
        parts.append("## Boundaries\nThese hold whatever you are asked:\n" + _list(soul.boundaries))
    if skills:
        lines = [_skill_line(skill) for skill in skills]
        parts.append("## Available skills\nUse a skill when a request matches it; read its file "
                     "for the full instructions first:\n" + "\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _skill_line(skill: dict[str, Any]) -> str:
    """``- name: description (when: …) [read: path]`` with the description cut to the limit."""
    description = str(skill.get("description") or "")
    if len(description) > SKILL_DESCRIPTION_LIMIT:
        description = description[:SKILL_DESCRIPTION_LIMIT - 1].rstrip() + "\u2026"
    line = f"- {skill.get('name', '?')}: {description}".rstrip(": ")
    triggers = [str(t) for t in skill.get("triggers") or ()]
    if triggers:
        line += f" (when: {', '.join(triggers)})"
    if skill.get("path"):
        line += f" [read: {skill['path']}]"
    return line


def _list(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


# --- boundaries --------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, straight apostrophes, single spaces, no trailing punctuation."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").lower()
    return " ".join(text.split()).strip(" .;:!,")


def boundary_phrases(boundary: str) -> list[str]:
    """The phrases that trip ``boundary``: itself, and what follows never / do not / don't."""
    whole = normalise(boundary)
    phrases = [whole] if len(whole) >= _MIN_PHRASE_CHARS else []
    for negation in _NEGATIONS:
        if whole.startswith(negation):
            rest = whole[len(negation):].strip()
            if len(rest) >= _MIN_PHRASE_CHARS:
                phrases.append(rest)
            break
    return phrases


def match_boundaries(text: str, boundaries: Sequence[str]) -> BoundaryMatch | None:
    """The first boundary whose phrase occurs in ``text`` as whole words, or None."""
    haystack = normalise(text)
    if not haystack:
        return None
    for boundary in boundaries:
        for phrase in boundary_phrases(boundary):
            if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", haystack):
                return BoundaryMatch(boundary=boundary, matched_phrase=phrase)
    return None
