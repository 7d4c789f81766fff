"""Validation of the model's structured scores, and the prompts that ask for them."""

from __future__ import annotations

import pytest

from aman.explore.feeds import FeedItem
from aman.explore.scoring import (
    ItemScore,
    ScoreRejectedError,
    digest_prompt,
    parse_score,
    score_prompt,
    summary_prompt,
)

ITEM = FeedItem(title="Rust 2.0", link="https://x/rust", summary="A new edition.",
                published="2026-12-01T10:00:00+00:00")


@pytest.mark.parametrize("answer", [
    '{"relevance": 8, "quality": 7, "timeliness": 9, "reason": "big news"}',
    '  {"relevance": 8, "quality": 7, "timeliness": 9}\n',
    'Here you go:\n```json\n{"relevance": 8, "quality": 7, "timeliness": 9}\n```\nHope it helps.',
    '```\n{"relevance": 8, "quality": 7, "timeliness": 9, "total": 99, "title": "ignored"}\n```',
])
def test_a_json_object_bare_or_fenced_is_accepted(answer: str) -> None:
    score = parse_score(answer)
    assert (score.relevance, score.quality, score.timeliness, score.total) == (8, 7, 9, 24)


@pytest.mark.parametrize(("answer", "why"), [
    ("I think this one is pretty good, 8/10.", "not a JSON object"),
    ('["relevance", 8]', "expected a JSON object, got list"),
    ('{"relevance": 8, "quality": 7}', "timeliness: Field required"),
    ('{"relevance": 11, "quality": 7, "timeliness": 9}', "relevance: Input should be less than"),
    ('{"relevance": -1, "quality": 7, "timeliness": 9}', "relevance: Input should be greater"),
    ('{"relevance": "high", "quality": 7, "timeliness": 9}', "relevance: Input should be a valid"),
    ('{"relevance": 7.5, "quality": 7, "timeliness": 9}', "relevance:"),
    ("", "not a JSON object"),
])
def test_anything_else_is_rejected_with_the_reason(answer: str, why: str) -> None:
    with pytest.raises(ScoreRejectedError, match=why):
        parse_score(answer)


def test_total_is_out_of_thirty() -> None:
    assert ItemScore(relevance=10, quality=10, timeliness=10).total == 30


def test_prompts_carry_the_item_and_ask_for_json_only() -> None:
    prompt = score_prompt(ITEM, source="news", now="2026-12-02T10:00+00:00")
    for part in ("Rust 2.0", "https://x/rust", "A new edition.", "'news'", "2026-12-02T10:00",
                 "exactly one JSON object and nothing else", '"relevance"', '"timeliness"'):
        assert part in prompt
    score = ItemScore(relevance=8, quality=7, timeliness=9)
    assert "24/30" in summary_prompt(ITEM, score)
    digest = digest_prompt("news", [(ITEM, score, "Rust got a new edition.")])
    assert "- Rust 2.0 (24/30): Rust got a new edition." in digest
