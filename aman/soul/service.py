"""SoulService: load the active soul from ``souls/``, update it with history, watch it, compile the
system prompt and check texts against its boundaries.

Souls live in ``<dir>/<name>.md`` or ``<dir>/<name>/SOUL.md`` across ``settings.souls_dirs``; a
later folder wins over an earlier one (by default ``<runtime.dir>/souls`` over the repo's). The
service knows nothing of HTTP: callers pass the operator and request id in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchfiles import Change

from aman.clock import Clock
from aman.errors import AmanError, InternalError, InvalidStateError, StartupError, UnavailableError
from aman.events.ports import FactEmitter
from aman.events.types import EventTable
from aman.files import write_atomically
from aman.soul.format import (
    BoundaryMatch,
    Soul,
    SoulFormatError,
    compile_prompt,
    content_hash,
    match_boundaries,
    parse_soul,
)
from aman.soul.locate import is_soul_path, soul_candidates
from aman.soul.model import SoulRepository, SoulVersion
from aman.watching import watch_changes

if TYPE_CHECKING:
    from aman.audit.log import AuditLog

log = logging.getLogger(__name__)

SOUL_CHANGED = "soul_changed"
#: Every type the soul emits, declared at boot (``aman.core.event_types``).
EVENT_TYPES: EventTable = (
    (SOUL_CHANGED, "The active persona changed (file edit, switch or reload)."),
)
SOUL_SOURCE = "system:soul"
#: Editors write a file in several steps; group them so one save is one reload.
_DEBOUNCE_MS = 300

SkillsIndex = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class CompiledPrompt:
    """The system prompt and what went into it."""

    prompt: str
    soul: str
    skills_count: int


@dataclass(frozen=True)
class _Loaded:
    soul: Soul
    content: str
    hash: str
    path: Path
    changed_at_ms: int


class SoulService:
    """The active soul: one parsed, frozen ``Soul`` in force at a time."""

    def __init__(self, *, dirs: Sequence[Path], active: str, repository: SoulRepository,
                 audit: AuditLog, bus: FactEmitter, clock: Clock,
                 skills_index: SkillsIndex | None = None, debounce_ms: int = _DEBOUNCE_MS) -> None:
        self.dirs = [Path(d).expanduser() for d in dirs]
        self.active = active
        self._repo = repository
        self._audit = audit
        self._bus = bus
        self._clock = clock
        self._skills_index: SkillsIndex = skills_index or (lambda: [])
        self._debounce_ms = debounce_ms
        self._loaded: _Loaded | None = None
        #: Souls other than the active one (an agent's own): name → (path, mtime_ns, soul).
        self._others: dict[str, tuple[Path, int, Soul]] = {}
        self._error: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._stop: asyncio.Event | None = None
        self._watcher: asyncio.Task[None] | None = None
        #: Set while the OS watch of the soul folders is in place (changes before it are unseen).
        self.armed = asyncio.Event()

    # --- finding and loading -----------------------------------------------------------------

    def candidates(self, name: str | None = None) -> list[Path]:
        """Where a soul (the active one by default) may live, highest precedence first."""
        return soul_candidates(name or self.active, self.dirs)

    def resolve(self) -> Path | None:
        """The active soul's file, or None if no folder has it."""
        return next((path for path in self.candidates() if path.is_file()), None)

    async def load(self) -> Soul:
        """Load the active soul (boot); a missing or invalid file is a ``StartupError``."""
        path = self.resolve()
        if path is None:
            looked = ", ".join(str(p) for p in self.candidates())
            raise StartupError(f"soul {self.active!r} not found; looked for {looked}",
                               hint="Create the file, or set souls.active to a soul name or to "
                                    "the path of a soul file that exists.")
        try:
            content = path.read_text(encoding="utf-8")
            soul = parse_soul(content, where=str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise StartupError(f"cannot read soul file {path}: {exc}") from exc
        except SoulFormatError as exc:
            raise StartupError(exc.message, hint=exc.hint) from exc
        async with self._lock:
            self._loaded = _Loaded(soul, content, content_hash(content), path,
                                   path.stat().st_mtime_ns // 1_000_000)
            self._error = None
            await self._record_if_new(content, operator="boot", reason="boot")
        log.info("soul %r loaded from %s", soul.name, path)
        return soul

    @property
    def soul(self) -> Soul:
        """The soul in force."""
        return self._state().soul

    def _state(self) -> _Loaded:
        if self._loaded is None:
            raise InvalidStateError("no soul is loaded yet",
                                    hint="Wait until the runtime is ready.")
        return self._loaded

    # --- reading -------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Name, file, last change (ms), boundaries count, sections and the last disk error."""
        state = self._state()
        return {
            "name": state.soul.name,
            "active": self.active,
            "path": str(state.path),
            "hash": state.hash,
            "last_changed": state.changed_at_ms,
            "boundaries_count": len(state.soul.boundaries),
            "sections": list(state.soul.sections),
            "error": self._error,
        }

    def raw(self) -> dict[str, Any]:
        """The content in force (the last good one if the file on disk is broken)."""
        state = self._state()
        return {"name": state.soul.name, "path": str(state.path), "content": state.content}

    async def versions(self, limit: int = 50) -> list[SoulVersion]:
        """The history of the active soul, newest first."""
        return await self._repo.list(self.active, limit)

    def skills(self, allowed: Collection[str] | None = None) -> list[dict[str, Any]]:
        """The LLM-visible skills index, only the ``allowed`` names when given (an agent's
        ``skills`` list); empty if the skill service cannot answer."""
        try:
            index = list(self._skills_index() or [])
        except Exception:  # a broken skill index must not take the persona down with it
            log.exception("skills index failed; compiling the prompt without skills")
            return []
        return index if allowed is None else [s for s in index if s.get("name") in allowed]

    def soul_for(self, name: str | None) -> Soul:
        """The soul named ``name`` (None or the active name: the active soul)."""
        return self.soul if name is None or name == self.active else self._other(name)

    def _other(self, name: str) -> Soul:
        """An agent's own soul, read from the soul folders and read again when its file
        changes (a stat per use); a broken edit keeps the last good one, like the active soul."""
        path = next((p for p in self.candidates(name) if p.is_file()), None)
        cached = self._others.get(name)
        if path is None:
            raise UnavailableError(
                f"soul {name!r} not found; looked for "
                f"{', '.join(str(p) for p in self.candidates(name))}", code="soul_unavailable",
                hint="Create the file, or point the agent's soul at one that exists.")
        mtime = path.stat().st_mtime_ns
        if cached is not None and cached[:2] == (path, mtime):
            return cached[2]
        try:
            soul = parse_soul(path.read_text(encoding="utf-8"), where=str(path))
        except (OSError, UnicodeDecodeError, SoulFormatError) as exc:
            if cached is not None:
                log.warning("soul %r on disk is broken (%s); keeping the last good one", name, exc)
                return cached[2]
            raise UnavailableError(f"soul {name!r} cannot be used: {exc}",
                                   code="soul_unavailable",
                                   hint=f"Fix {path}; GET /soul shows the format.") from None
        self._others[name] = (path, mtime, soul)
        return soul

    def compiled_prompt(self, name: str | None = None, *,
                        allowed_skills: Collection[str] | None = None) -> CompiledPrompt:
        """The system prompt of a soul (the active one by default), its name and skill count;
        ``allowed_skills`` limits the skills index to an agent's list."""
        skills = self.skills(allowed_skills)
        soul = self.soul_for(name)
        return CompiledPrompt(prompt=compile_prompt(soul, skills), soul=soul.name,
                              skills_count=len(skills))

    def system_prompt(self, name: str | None = None, *,
                      allowed_skills: Collection[str] | None = None) -> str:
        """The compiled system prompt of a soul (the active one by default)."""
        return self.compiled_prompt(name, allowed_skills=allowed_skills).prompt

    def check_boundaries(self, text: str, name: str | None = None) -> BoundaryMatch | None:
        """The first boundary of a soul (the active one by default) ``text`` runs into."""
        return match_boundaries(text, self.soul_for(name).boundaries)

    # --- changing ------------------------------------------------------------------------------

    async def update(self, content: str, *, operator: str,
                     request_id: str | None = None) -> dict[str, Any]:
        """Validate, keep the previous content, write atomically, audit and announce."""
        soul = parse_soul(content, where="body.content")  # nothing is written if this fails
        async with self._lock:
            state = self._state()
            new_hash = content_hash(content)
            if new_hash == state.hash:
                return {**self.info(), "changed": False, "version": None}
            # The content in force may have been seen before any version was stored.
            await self._record_if_new(state.content, operator="file", reason="file")
            target = self._writable_path(state.path)
            _write_atomic(target, content)
            self._loaded = _Loaded(soul, content, new_hash, target, self._clock.now_ms())
            self._error = None
            version = await self._repo.add(soul=self.active, hash=new_hash, content=content,
                                           operator=operator, reason="update",
                                           created_at_ms=self._clock.now_ms())
            await self._audit.record(
                "soul.update", operator=operator, target=f"soul:{self.active}",
                detail={"path": str(target), "old_hash": state.hash, "new_hash": new_hash,
                        "version": version.id}, request_id=request_id)
            self._announce(state.hash, reason="update")
        return {**self.info(), "changed": True, "version": version.to_json()}

    def _writable_path(self, current: Path) -> Path:
        """Where an update goes: the highest-precedence folder (the runtime dir by default).

        A soul shipped in the repository is never edited in place: the first update writes a
        copy into that folder, which then takes precedence.
        """
        home = self.dirs[-1]
        if current.is_relative_to(home) or is_soul_path(self.active):
            return current  # a soul given by path is the user's own file: edited where it is
        home.mkdir(parents=True, exist_ok=True)
        return home / f"{self.active}.md"

    async def reload(self) -> bool:
        """Re-read the active soul from disk; keep the last good one if it is broken.

        Returns whether the soul in force changed.
        """
        async with self._lock:
            state = self._state()
            path = self.resolve()
            try:
                if path is None:
                    raise FileNotFoundError("the soul file was removed")
                content = path.read_text(encoding="utf-8")
                new_hash = content_hash(content)
                if new_hash == state.hash and path == state.path:
                    self._error = None
                    return False
                soul = parse_soul(content, where=str(path))
            except (OSError, UnicodeDecodeError, SoulFormatError) as exc:
                self._report(exc, path or state.path)
                return False
            self._loaded = _Loaded(soul, content, new_hash, path, self._clock.now_ms())
            self._error = None
            await self._record_if_new(content, operator="file", reason="file")
            with contextlib.suppress(AmanError):  # the audit log may be closing at stop
                await self._audit.record(
                    "soul.reload", operator="file", target=f"soul:{self.active}",
                    detail={"path": str(path), "old_hash": state.hash, "new_hash": new_hash})
            self._announce(state.hash, reason="file")
        log.info("soul %r reloaded from %s", soul.name, path)
        return True

    def _report(self, exc: BaseException, path: Path) -> None:
        line = None
        if isinstance(exc, SoulFormatError):
            line = next((f.get("line") for f in exc.details.get("fields", [])), None)
        message = exc.message if isinstance(exc, AmanError) else f"{type(exc).__name__}: {exc}"
        self._error = {"message": message, "path": str(path), "line": line,
                       "at_ms": self._clock.now_ms()}
        log.warning("soul file %s is broken; keeping the last good soul: %s", path, message)

    async def _record_if_new(self, content: str, *, operator: str, reason: str) -> None:
        digest = content_hash(content)
        latest = await self._repo.latest(self.active)
        if latest is None or latest.hash != digest:
            await self._repo.add(soul=self.active, hash=digest, content=content,
                                 operator=operator, reason=reason,
                                 created_at_ms=self._clock.now_ms())

    def _announce(self, previous_hash: str, *, reason: str) -> None:
        state = self._state()
        self._bus.emit(SOUL_CHANGED, {
            "name": state.soul.name, "soul": self.active, "path": str(state.path),
            "hash": state.hash, "previous_hash": previous_hash, "reason": reason,
            "boundaries": list(state.soul.boundaries),
            "preferences": list(state.soul.preferences),
        }, source=SOUL_SOURCE)

    # --- watching ------------------------------------------------------------------------------

    def start_watching(self) -> None:
        """Watch the soul folders; an edit on disk reloads the soul (debounced)."""
        if self._watcher is not None and not self._watcher.done():
            return
        if self.dirs:
            self.dirs[-1].mkdir(parents=True, exist_ok=True)  # where updates are written
        roots = [folder for folder in self.dirs if folder.is_dir()]
        if is_soul_path(self.active):
            roots = [p.parent for p in self.candidates() if p.parent.is_dir()]
        if not roots:
            return
        self._stop = asyncio.Event()
        self.armed.clear()
        self._watcher = asyncio.get_running_loop().create_task(
            self._watch(roots, self._stop), name="soul-watcher")

    async def stop(self) -> None:
        """Stop watching."""
        if self._stop is not None:
            self._stop.set()
        if self._watcher is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._watcher), timeout=2.0)
            except TimeoutError:
                self._watcher.cancel()
                await asyncio.gather(self._watcher, return_exceptions=True)
            self._watcher = None

    def _relevant(self, change: Change, path: str) -> bool:
        entry = Path(path)
        if is_soul_path(self.active):
            return entry in self.candidates()
        return entry.name == f"{self.active}.md" or (
            entry.name == "SOUL.md" and entry.parent.name == self.active)

    async def _watch(self, roots: list[Path], stop: asyncio.Event) -> None:
        log.info("watching soul %r in %s", self.active, ", ".join(map(str, roots)))
        try:
            async for _changes in watch_changes(*roots, watch_filter=self._relevant,
                                                debounce=self._debounce_ms, step=50,
                                                stop_event=stop, recursive=True,
                                                armed=self.armed):
                if stop.is_set():
                    return
                try:
                    await self.reload()
                except AmanError:
                    log.exception("soul reload failed")
        except Exception:  # the watcher is a convenience; the daemon keeps serving without it
            log.exception("soul watcher stopped")


def _write_atomic(path: Path, content: str) -> None:
    """Replace the soul file atomically; a failure is the daemon's, with a hint for the operator."""
    try:
        write_atomically(path, content)
    except OSError as exc:
        raise InternalError(f"could not write soul file {path}: {exc}",
                            hint="Check the folder's permissions and free space.") from exc
