"""Skill repository contract: the operator's switch, the history of contents, full-text search."""

from __future__ import annotations

from aman.skills.model import IndexEntry, SkillVersionRow
from tests.store.contract.backends import Backend, Repositories


async def test_the_switch_is_remembered_per_name(store: Repositories) -> None:
    assert await store.skills.disabled() == set()
    await store.skills.set_enabled("a", False, 1_000)
    await store.skills.set_enabled("b", False, 1_000)
    await store.skills.set_enabled("b", False, 2_000)
    assert await store.skills.disabled() == {"a", "b"}
    await store.skills.set_enabled("a", True, 3_000)
    await store.skills.set_enabled("c", True, 3_000)
    assert await store.skills.disabled() == {"b"}


async def test_versions_are_recorded_once_per_content_newest_first(store: Repositories) -> None:
    await store.skills.record_versions([("a", "h1", "1.0", "/s/a.md", "one"),
                                        ("b", "hb", None, "/s/b.md", "bee")], 1_000)
    await store.skills.record_versions([("a", "h2", "2.0", "/s/a.md", "two")], 2_000)
    assert await store.skills.latest_hashes() == {"a": "h2", "b": "hb"}
    assert await store.skills.versions("a") == [
        SkillVersionRow("a", "h2", "2.0", "/s/a.md", 2_000, 2_000, "two"),
        SkillVersionRow("a", "h1", "1.0", "/s/a.md", 1_000, 1_000, "one"),
    ]
    assert await store.skills.versions("missing") == []
    await store.skills.record_versions([], 9_000)
    assert await store.skills.latest_hashes() == {"a": "h2", "b": "hb"}


async def test_a_content_that_comes_back_is_the_latest_again(store: Repositories) -> None:
    await store.skills.record_versions([("a", "h1", "1.0", "/s/a.md", "one")], 1_000)
    await store.skills.record_versions([("a", "h2", "2.0", "/s/a.md", "two")], 2_000)
    await store.skills.record_versions([("a", "h1", "1.0", "/moved/a.md", "one")], 3_000)
    assert await store.skills.latest_hashes() == {"a": "h1"}
    assert await store.skills.versions("a") == [
        SkillVersionRow("a", "h1", "1.0", "/moved/a.md", 1_000, 3_000, "one"),
        SkillVersionRow("a", "h2", "2.0", "/s/a.md", 2_000, 2_000, "two"),
    ]


ENTRIES = [
    IndexEntry("deploy", "Ship the service to production", "ops release", "Run the pipeline."),
    IndexEntry("weather", "Tell the forecast", "daily", "Ask the weather service for a city."),
    IndexEntry("notes", "Take notes", "writing", "Write down what the user says."),
]


async def search_names(store: Repositories, text: str, limit: int = 10) -> list[str]:
    return [hit["name"] for hit in await store.skills.search(text, limit)]


async def test_search_finds_any_word_by_prefix_best_first(store: Repositories) -> None:
    await store.skills.reindex(ENTRIES)
    assert await search_names(store, "forecast") == ["weather"]
    assert await search_names(store, "Produc") == ["deploy"]
    assert set(await search_names(store, "notes forecast")) == {"notes", "weather"}
    # A name hit ranks above a body hit.
    assert (await search_names(store, "weather service"))[0] == "weather"
    assert len(await search_names(store, "service", limit=1)) == 1
    assert await search_names(store, "nothing-like-it") == []
    assert await store.skills.search("  ?! ", 10) == []


async def test_search_hits_carry_a_score_and_a_snippet(store: Repositories) -> None:
    await store.skills.reindex(ENTRIES)
    hits = await store.skills.search("service", 10)
    assert {hit["name"] for hit in hits} == {"deploy", "weather"}
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(hit["score"], float) for hit in hits)
    assert all("service" in hit["snippet"].lower() for hit in hits)


async def test_reindex_replaces_everything_or_only_the_names_given(store: Repositories) -> None:
    await store.skills.reindex(ENTRIES)
    await store.skills.reindex([IndexEntry("weather", "Rain or shine", "", "")], only=["weather"])
    assert await search_names(store, "forecast") == []
    assert await search_names(store, "rain") == ["weather"]
    assert await search_names(store, "pipeline") == ["deploy"]
    await store.skills.reindex([], only=[])
    assert await search_names(store, "pipeline") == ["deploy"]
    await store.skills.reindex([], only=["deploy"])
    assert await search_names(store, "pipeline") == []
    await store.skills.reindex([IndexEntry("solo", "Only one", "", "")])
    assert await search_names(store, "rain only notes") == ["solo"]


async def test_skills_state_survives_a_restart(store_backend: Backend,
                                               store: Repositories) -> None:
    await store.skills.set_enabled("a", False, 1_000)
    await store.skills.record_versions([("a", "h1", None, "/s/a.md", "one")], 1_000)
    await store.skills.reindex(ENTRIES)
    reopened = await store_backend.reopen()
    assert await reopened.skills.disabled() == {"a"}
    assert await reopened.skills.latest_hashes() == {"a": "h1"}
    assert await search_names(reopened, "forecast") == ["weather"]
