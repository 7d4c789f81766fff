"""ExploreService: ``POST /explore/start``, then fetch, score, summarise and digest behind it.

The request only picks the source, checks the agent and creates a persistent chat session; it
answers ``{session_id, source}`` at once. The run is a tracked task that posts every step to that
session as an agent message (``agent:reply_ready`` with ``source: "explore"``, the ``step`` and
its ``progress``), so a frontend watching the session sees the exploration unfold and the final
digest lands where the person reads it. Failures (a feed
that does not answer, a model that is down) end the run with a ``failed`` message and an
``explore:failed`` event, never an unhandled task exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aman.errors import AmanError, InvalidInputError, NotFoundError
from aman.explore import scoring
from aman.explore.events import (
    EXPLORE_FAILED,
    EXPLORE_FINISHED,
    EXPLORE_STARTED,
    SOURCE,
)
from aman.explore.feeds import Feed, FeedItem, fetch_feed, parse_feed
from aman.llm.provider import ChatMessage, CompletionRequest, Delta, LLMError

if TYPE_CHECKING:
    from aman.agents import Agent, AgentService
    from aman.chat.sessions import ChatService
    from aman.clock import Clock
    from aman.config.reach import InfoHubSettings, InfoSource
    from aman.core.lifecycle import TaskTracker
    from aman.events.bus import EventBus
    from aman.llm.registry import ProviderRegistry
    from aman.soul.service import SoulService

log = logging.getLogger(__name__)

#: Output budget of one scoring answer: a JSON object and a sentence of reason.
_SCORE_MAX_TOKENS = 300
_Scored = tuple[FeedItem, scoring.ItemScore]


class NoSourcesError(InvalidInputError):
    """``POST /explore/start`` with no feed configured."""

    code = "no_sources"
    hint = ("Add feeds under info_hub.sources in the config (a list of {name, url} or bare "
            "URLs of RSS, Atom or JSON feeds), then restart the daemon, or set them live "
            "with POST /config/set {\"changes\": {\"info_hub.sources\": [...]}}.")


class SourceNotFoundError(NotFoundError):
    """``POST /explore/start`` named a source that is not configured."""

    code = "source_not_found"
    hint = "Name one of the sources under info_hub.sources, or leave source out to pick one."


@dataclass
class _Run:
    """One exploration: where it posts, what it reads, and its counts so far."""

    session_id: str
    agent: Agent
    source: InfoSource
    stage: str = "fetch"
    items: int = 0
    scored: int = 0
    skipped: int = 0
    kept: list[tuple[FeedItem, scoring.ItemScore, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The counts every later post and event carries."""
        return {"items": self.items, "scored": self.scored, "skipped": self.skipped,
                "kept": len(self.kept)}


class ExploreService:
    """Starts explorations and runs them as tracked background tasks."""

    def __init__(self, *, chat: ChatService, agents: AgentService, llm: ProviderRegistry,
                 soul: SoulService, bus: EventBus, tasks: TaskTracker,
                 clock: Clock, settings: Callable[[], InfoHubSettings],
                 choose: Callable[[Sequence[InfoSource]], InfoSource] = random.choice,
                 budget: Callable[[str, str], None] | None = None) -> None:
        self._budget = budget  # raises BudgetExhaustedError when the agent's budget is spent
        self._chat = chat
        self._agents = agents
        self._llm = llm
        self._soul = soul
        self._bus = bus
        self._tasks = tasks
        self._clock = clock
        self._settings = settings
        self._choose = choose
        self._running: set[asyncio.Task[Any]] = set()

    # --- starting --------------------------------------------------------------------------

    def pick(self, name: str | None) -> InfoSource:
        """The source named ``name`` (or whose URL it is), or a random one; 400 ``no_sources`` /
        404 when unknown."""
        hub = self._settings()
        sources = hub.sources
        if not sources:
            raise NoSourcesError("no feed to explore: info_hub.sources is empty")
        if name is None:
            return self._choose(sources)
        found = hub.find(name)
        if found is None:
            known = [s.name for s in sources]
            raise SourceNotFoundError(
                f"no source named {name!r} (nor with that URL) under info_hub.sources; known: "
                f"{', '.join(known)}",
                details={"source": name, "known": known})
        return found

    async def start(self, *, agent_key: str | None, source: str | None,
                    operator: str) -> dict[str, Any]:
        """Pick the source, create the session and start the run; ``{session_id, source, url}``."""
        chosen = self.pick(source)
        agent = self._agents.for_chat(agent_key)  # unknown or unusable agent: 400
        if self._budget is not None:
            self._budget(agent.agent_id, "explore")
        session = await self._chat.create(agent_id=agent.agent_id, session_type="persistent",
                                          title=f"Explore: {chosen.name}", operator=operator,
                                          purpose="explore")
        run = _Run(session_id=session["id"], agent=agent, source=chosen)
        self._bus.emit(EXPLORE_STARTED, {"session_id": run.session_id, "agent_id": agent.agent_id,
                                         "source": chosen.name, "url": chosen.url,
                                         "operator": operator}, source=SOURCE)
        task = self._tasks.spawn(f"explore:{run.session_id}", self._run(run))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return {"session_id": run.session_id, "source": chosen.name, "url": chosen.url,
                "agent_id": agent.agent_id}

    async def stop(self) -> None:
        """Cancel running explorations (before chat and storage stop under them)."""
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    # --- the run ---------------------------------------------------------------------------

    async def _run(self, run: _Run) -> None:
        try:
            await self._explore(run)
        except asyncio.CancelledError:
            raise
        except AmanError as exc:
            await self._fail(run, exc.code, exc.message, exc.hint)
        except Exception as exc:  # a bug must still end the run visibly, not as a task error
            log.exception("explore of %s failed", run.source.name)
            await self._fail(run, "internal_error", f"{type(exc).__name__}: {exc}",
                             AmanError.hint)

    async def _explore(self, run: _Run) -> None:
        hub = self._settings()
        body, content_type = await fetch_feed(run.source.url, timeout_sec=hub.fetch_timeout_sec)
        run.stage = "parse"
        feed = parse_feed(body, url=run.source.url, content_type=content_type,
                          max_items=hub.max_items)
        run.items = len(feed.items)
        await self._post(run, "fetched", _fetched_text(run, feed), done=0, total=run.items)
        run.stage = "score"
        rows, rejected = await self._score(run, feed.items, hub.min_score)
        await self._post(run, "scored", _scored_text(run, rows, rejected, hub.min_score),
                         done=run.items, total=run.items)
        run.stage = "summary"
        for index, (item, score, _) in enumerate(list(run.kept), start=1):
            summary = await self._ask(run, scoring.summary_prompt(item, score), purpose="summary",
                                      temperature=run.agent.settings.temperature)
            run.kept[index - 1] = (item, score, summary)
            await self._post(run, "summary", _summary_text(item, score, summary),
                             done=index, total=len(run.kept), link=item.link, score=score.total)
        run.stage = "digest"
        digest = (await self._ask(run, scoring.digest_prompt(run.source.name, run.kept),
                                  purpose="digest", temperature=run.agent.settings.temperature)
                  if run.kept else "")
        await self._post(run, "digest", _digest_text(run, digest, hub.min_score),
                         done=len(run.kept), total=len(run.kept))
        self._bus.emit(EXPLORE_FINISHED, {**self._ids(run), **run.counts(),
                                          "min_score": hub.min_score}, source=SOURCE)

    async def _score(self, run: _Run, items: Sequence[FeedItem],
                     min_score: int) -> tuple[list[_Scored], list[tuple[FeedItem, str]]]:
        """Score each item in order; unscorable ones are skipped with the reason."""
        now = datetime.fromtimestamp(self._clock.now_ms() / 1000, UTC).isoformat(
            timespec="minutes")
        rows: list[_Scored] = []
        rejected: list[tuple[FeedItem, str]] = []
        model_error: LLMError | None = None
        for item in items:
            prompt = scoring.score_prompt(item, source=run.source.name, now=now)
            try:
                answer = await self._ask(run, prompt, purpose="score", temperature=0.0,
                                         max_tokens=_SCORE_MAX_TOKENS)
                score = scoring.parse_score(answer)
            except (LLMError, scoring.ScoreRejectedError) as exc:
                if isinstance(exc, LLMError):
                    model_error = exc
                log.info("explore %s: item %r not scored: %s", run.session_id, item.title, exc)
                run.skipped += 1
                rejected.append((item, str(exc)))
                continue
            run.scored += 1
            rows.append((item, score))
        if model_error is not None and not rows:
            raise model_error  # the model is down, not judging: a failure, not n skipped items
        kept = sorted((r for r in rows if r[1].total > min_score), key=lambda r: -r[1].total)
        run.kept = [(item, score, "") for item, score in kept]
        return rows, rejected

    async def _ask(self, run: _Run, prompt: str, *, purpose: str, temperature: float,
                   max_tokens: int | None = None) -> str:
        """One completion from the agent's model (through the registry: retries, fallbacks)."""
        agent = run.agent
        system = "\n\n".join(p for p in (self._system_prompt(agent), scoring.SYSTEM_NOTE)
                               if p)
        limit = agent.settings.max_output_tokens
        request = CompletionRequest(
            messages=(ChatMessage("system", system), ChatMessage("user", prompt)),
            model=agent.model, temperature=temperature,
            max_tokens=min(limit, max_tokens) if max_tokens else limit)
        context: dict[str, object] = {"session_id": run.session_id, "agent_id": agent.agent_id,
                                      "purpose": f"explore.{purpose}"}
        parts: list[str] = []
        stream = self._llm.stream(agent.provider, request, context=context)
        async with contextlib.aclosing(stream):
            async for item in stream:
                if isinstance(item, Delta):
                    parts.append(item.text)
        return "".join(parts).strip()

    def _system_prompt(self, agent: Agent) -> str:
        try:
            return self._soul.system_prompt(agent.soul, allowed_skills=agent.allowed_skills)
        except AmanError:  # no soul loaded (runtime stopping): explore works without one
            return ""

    # --- posting ---------------------------------------------------------------------------

    def _ids(self, run: _Run) -> dict[str, Any]:
        return {"session_id": run.session_id, "agent_id": run.agent.agent_id,
                "source": run.source.name, "url": run.source.url}

    async def _post(self, run: _Run, step: str, text: str, *, done: int, total: int,
                    **extra: Any) -> None:
        await self._chat.post_agent_message(
            run.session_id, text, source="explore", step=step, feed=run.source.name,
            progress={"done": done, "total": total}, turns_processed=0, **run.counts(), **extra)

    async def _fail(self, run: _Run, code: str, message: str, hint: str) -> None:
        """Post the failure in the session and announce it; a session gone meanwhile is logged."""
        log.warning("explore %s of %s failed at %s: %s", run.session_id, run.source.name,
                    run.stage, message)
        error = {"code": code, "message": message, "hint": hint}
        self._bus.emit(EXPLORE_FAILED, {**self._ids(run), **run.counts(), "stage": run.stage,
                                        "error": error}, source=SOURCE)
        text = (f"**Explore of {run.source.name} failed** while it was at the {run.stage} "
                f"step: {message}\n\n_{hint}_")
        try:
            await self._post(run, "failed", text, done=run.scored + run.skipped,
                             total=run.items, stage=run.stage, error=error)
        except AmanError as exc:
            log.warning("explore %s: could not post the failure: %s", run.session_id, exc)


# --- message texts ---------------------------------------------------------------------------


def _fetched_text(run: _Run, feed: Feed) -> str:
    name = feed.title or run.source.name
    if not feed.items:
        return f"Read **{name}** ({run.source.url}): the feed has no items right now."
    titles = "\n".join(f"{i}. {item.title or '(untitled)'}"
                       for i, item in enumerate(feed.items, start=1))
    return (f"Read **{name}** ({run.source.url}): {len(feed.items)} item(s). Scoring each for "
            f"relevance, quality and timeliness…\n\n{titles}")


def _scored_text(run: _Run, rows: Sequence[tuple[FeedItem, scoring.ItemScore]],
                 rejected: Sequence[tuple[FeedItem, str]], min_score: int) -> str:
    lines = [f"Scored {len(rows)} of {run.items} item(s); {len(run.kept)} scored above "
             f"{min_score}/30 and will be summarised; {len(rejected)} skipped (the model's "
             "answer was not a valid score)."]
    if rows:
        lines += ["", "| item | relevance | quality | timeliness | total |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for item, s in sorted(rows, key=lambda r: -r[1].total):
            title = (item.title or "(untitled)").replace("|", "\\|")
            lines.append(f"| {title} | {s.relevance} | {s.quality} | {s.timeliness} | "
                         f"{s.total} |")
    if rejected:
        lines += ["", "Skipped:"] + [f"- {item.title or '(untitled)'}: {why}"
                                     for item, why in rejected]
    return "\n".join(lines)


def _summary_text(item: FeedItem, score: scoring.ItemScore, summary: str) -> str:
    title = f"[{item.title or item.link}]({item.link})" if item.link else item.title
    return f"### {title}\n_{score.total}/30_\n\n{summary}"


def _digest_text(run: _Run, digest: str, min_score: int) -> str:
    counts = (f"{run.items} read, {run.scored} scored, {run.skipped} skipped, "
              f"{len(run.kept)} kept")
    if not run.kept:
        return (f"## Explore digest: {run.source.name}\n\nNothing scored above {min_score}/30 "
                f"this time ({counts}).")
    return f"## Explore digest: {run.source.name}\n\n{digest}\n\n_{counts}_"
