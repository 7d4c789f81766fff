"""The prompts explore sends to the agent's model, and the validation of its structured scores.

Scoring is structured output without relying on a provider feature: the prompt asks for one JSON
object and nothing else, and ``parse_score`` accepts that object bare or inside a ```json fence
(what models add most often), then validates it with pydantic. Anything else (prose, a missing
field, a score outside 0-10) is ``ScoreRejectedError``: the item is skipped and counted, never
guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aman.explore.feeds import FeedItem
from aman.parsing import error_summary

#: What explore tells the model it is doing, after the soul's own system prompt.
SYSTEM_NOTE = ("You are exploring a news feed for your person: judge items honestly, keep what "
               "is worth their time, and write short, concrete summaries in Markdown.")
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)


class ScoreRejectedError(ValueError):
    """The model's answer is not a valid score; ``str()`` says why (shown in the session)."""


class ItemScore(BaseModel):
    """One item's judgement: three marks of 0-10, whose sum (of 30) decides if it is kept."""

    # Models often add "total" or "title"; extra keys are ignored, the total is ours to compute.
    model_config = ConfigDict(extra="ignore", frozen=True)

    relevance: int = Field(ge=0, le=10, description="How much it matters to the person.")
    quality: int = Field(ge=0, le=10, description="Substance and trustworthiness.")
    timeliness: int = Field(ge=0, le=10, description="How current it is.")
    reason: str = Field("", max_length=500, description="One sentence on why.")

    @property
    def total(self) -> int:
        """Relevance + quality + timeliness, of 30."""
        return self.relevance + self.quality + self.timeliness


def score_prompt(item: FeedItem, *, source: str, now: str) -> str:
    """Ask for one item's scores as a bare JSON object."""
    return (
        f"Score this item from the feed {source!r} (it is now {now}).\n\n"
        f"{_describe(item)}\n\n"
        "Give three integer marks from 0 to 10: relevance (how much it matters to your person), "
        "quality (substance, trustworthiness) and timeliness (how current it is), and one short "
        "sentence of reason.\n"
        "Answer with exactly one JSON object and nothing else, for example:\n"
        '{"relevance": 7, "quality": 6, "timeliness": 8, "reason": "..."}'
    )


def summary_prompt(item: FeedItem, score: ItemScore) -> str:
    """Ask for a short Markdown summary of one kept item."""
    return (
        f"{_describe(item)}\n\n"
        f"You scored it {score.total}/30 (relevance {score.relevance}, quality {score.quality}, "
        f"timeliness {score.timeliness}). Summarise it for your person in two to four "
        "sentences of Markdown: what it says and why it matters. No preamble."
    )


def digest_prompt(source: str, kept: Sequence[tuple[FeedItem, ItemScore, str]]) -> str:
    """Ask for the final digest over the kept items' summaries."""
    parts = [f"- {item.title} ({score.total}/30): {summary}" for item, score, summary in kept]
    return (
        f"You explored the feed {source!r} and kept these items:\n" + "\n".join(parts) + "\n\n"
        "Write a short digest in Markdown for your person: the few things worth knowing, "
        "most important first, in one short paragraph or a few bullets."
    )


def parse_score(text: str) -> ItemScore:
    """The ``ItemScore`` in a model's answer; ``ScoreRejectedError`` saying why if none."""
    raw = _json_text(text)
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ScoreRejectedError(f"not a JSON object ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ScoreRejectedError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return ItemScore.model_validate(data)
    except ValidationError as exc:
        raise ScoreRejectedError(error_summary(exc, root="score")) from None


def _json_text(text: str) -> str:
    """The JSON inside a ```json fence when there is one, else the whole answer."""
    fenced = _FENCE.search(text)
    return (fenced.group(1) if fenced else text).strip()


def _describe(item: FeedItem) -> str:
    lines = [f"Title: {item.title or '(untitled)'}"]
    if item.link:
        lines.append(f"Link: {item.link}")
    if item.published:
        lines.append(f"Published: {item.published}")
    if item.summary:
        lines.append(f"Summary: {item.summary}")
    return "\n".join(lines)
