"""What tests share besides fixtures: one way to wait, one fake bus, one manual clock.

Fixtures live in the conftest files; everything a test module imports lives here (or, for the
e2e daemon launcher, in ``tests/e2e/daemons.py``), so no test imports a conftest.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from quart import Quart

from aman.config.settings import Settings
from aman.core.runtime import Runtime
from aman.events.bus import PublishResult
from aman.events.model import Event

T = TypeVar("T")

SettingsFactory = Callable[..., Settings]

#: How long a wait lasts unless told otherwise: generous, because the machine may be loaded.
WAIT_SEC = 10.0
_FIRST_POLL_SEC = 0.005
_MAX_POLL_SEC = 0.05


#: Where the e2e tests live: every test there is marked e2e (others may be too, e.g. the
#: console's browser tests; only marked tests may start the daemon).
E2E_DIR = Path(__file__).resolve().parent / "e2e"


def runtime_of(app: Quart) -> Runtime:
    """The runtime behind any app built by create_app."""
    rt: Runtime = app.extensions["aman.core.runtime"]
    return rt


# --- waiting ---------------------------------------------------------------------------------


class _Polling:
    """One wait's deadline, growing pause and failure message (shared by both waits)."""

    def __init__(self, condition: Callable[..., Any], timeout: float, what: str | None) -> None:
        self.condition, self.timeout, self.what = condition, timeout, what
        self.deadline = time.monotonic() + timeout
        self.pause = _FIRST_POLL_SEC

    def next_pause(self, value: object) -> float:
        """How long to pause before polling again; fail the test once time is up."""
        if time.monotonic() > self.deadline:
            raise AssertionError(f"timed out after {self.timeout}s waiting for "
                                 f"{self.what or _described(self.condition)} "
                                 f"(last value: {value!r})")
        pause, self.pause = self.pause, min(self.pause * 2, _MAX_POLL_SEC)
        return pause


async def wait_for(condition: Callable[[], T | Awaitable[T]], timeout: float = WAIT_SEC, *,
                   what: str | None = None) -> T:
    """Poll ``condition`` (sync or async) until it is truthy and return its value.

    Fails the test after ``timeout`` seconds naming what was awaited (``what``, else the
    condition's own source line) and the last value seen.
    """
    polling = _Polling(condition, timeout, what)
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        await asyncio.sleep(polling.next_pause(value))


def wait_for_sync(condition: Callable[[], T], timeout: float = WAIT_SEC, *,
                  what: str | None = None) -> T:
    """``wait_for`` for blocking code: the e2e and browser tests talk to the daemon blocking (a
    browser test's thread may even hold an event loop, so this one never starts one)."""
    polling = _Polling(condition, timeout, what)
    while True:
        value = condition()
        if value:
            return value
        time.sleep(polling.next_pause(value))


async def hang() -> None:
    """Wait until cancelled: a fake that never finishes (a hung handler, a stuck step)."""
    await asyncio.get_running_loop().create_future()


def _described(condition: Callable[..., Any]) -> str:
    """The condition's source line (a lambda reads as what it checks), else its name."""
    try:
        return " ".join(inspect.getsource(condition).split())
    except (OSError, TypeError):
        return getattr(condition, "__qualname__", repr(condition))


# --- the fake bus ----------------------------------------------------------------------------


class FakeBus:
    """The bus's narrow faces in one recorder: facts (``emit``), ``publish``, and observers.

    ``emitted`` holds (event type, payload, source) per fact; ``published`` the events handed to
    ``publish`` (which raises ``refuse`` when a test sets it); ``dispatch`` calls the observers.
    """

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any], str]] = []
        self.published: list[Event] = []
        self.refuse: Exception | None = None
        self.observers: list[Callable[[Event], None]] = []

    def emit(self, event_type: str, payload: dict[str, Any], *, source: str = "") -> None:
        """Record a fact."""
        self.emitted.append((event_type, payload, source))

    def types(self) -> list[str]:
        """The facts' types, in order."""
        return [event_type for event_type, _, _ in self.emitted]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        """The payloads of the facts of ``event_type``, in order."""
        return [payload for kind, payload, _ in self.emitted if kind == event_type]

    def last(self, event_type: str) -> dict[str, Any]:
        """The payload of the latest fact of ``event_type``."""
        return self.of(event_type)[-1]

    async def publish(self, event: Event) -> PublishResult:
        """Record an event (or refuse it with ``refuse``)."""
        if self.refuse is not None:
            raise self.refuse
        self.published.append(event)
        return PublishResult(event)

    def observe(self, observer: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``observer`` on every dispatched event; return the unsubscribe."""
        self.observers.append(observer)
        return lambda: self.observers.remove(observer)

    def dispatch(self, event: Event) -> None:
        """Hand ``event`` to every observer."""
        for observer in list(self.observers):
            observer(event)


# --- the manual clock ------------------------------------------------------------------------


class ManualClock:
    """A clock that moves only when the test says so; sleepers wake when it passes their time.

    ``advance(seconds)`` moves wall and monotonic time together and wakes every sleeper that is
    due. With ``autojump`` a sleep moves the clock itself and returns at once (retry backoff
    under test). ``real_monotonic`` keeps durations on real time while the wall time is manual
    (rate limits and boot timings of a whole runtime). ``slept`` lists every sleep asked for.
    """

    START_MS = 1_800_000_000_000

    def __init__(self, now_ms: int = START_MS, *, autojump: bool = False,
                 real_monotonic: bool = False) -> None:
        self.now = now_ms
        self.elapsed = 0.0
        self.autojump = autojump
        self.real_monotonic = real_monotonic
        self.slept: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        """The manual wall time."""
        return self.now

    def monotonic(self) -> float:
        """Manual seconds since the clock was made (or real ones with ``real_monotonic``)."""
        return time.monotonic() if self.real_monotonic else self.elapsed

    @property
    def sleeping(self) -> int:
        """How many sleepers wait for the clock to move."""
        return sum(1 for _, future in self._sleepers if not future.done())

    @property
    def deadlines(self) -> list[float]:
        """When (in the clock's elapsed seconds) each waiting sleeper wakes, soonest first."""
        return sorted(due for due, future in self._sleepers if not future.done())

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has moved ``seconds`` on (at once with ``autojump``)."""
        self.slept.append(seconds)
        if self.autojump:
            self.advance(seconds)
        if seconds <= 0 or self.autojump:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.elapsed + seconds, future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self._sleepers:
                self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on and wake every sleeper now due."""
        self.elapsed += seconds
        self.now += round(seconds * 1000)
        for due, future in list(self._sleepers):
            if due <= self.elapsed and not future.done():
                future.set_result(None)

    def advance_ms(self, ms: int) -> None:
        """``advance`` in milliseconds (wall-time arithmetic reads better so)."""
        self.advance(ms / 1000)


# --- what only e2e tests may do --------------------------------------------------------------


class _Item(Protocol):
    nodeid: str
    path: Path

    def get_closest_marker(self, name: str) -> object | None: ...


def unmarked_e2e(items: Sequence[_Item]) -> list[str]:
    """Tests under tests/e2e without the ``e2e`` marker (``-m "not e2e"`` would start daemons)."""
    return [item.nodeid for item in items
            if item.path.is_relative_to(E2E_DIR) and item.get_closest_marker("e2e") is None]


class DaemonGate:
    """Whether the running test may start the daemon: set before each test from its marker."""

    allowed = False


def assert_daemon_allowed(what: object) -> None:
    """Fail unless the running test is marked e2e (only those start the daemon)."""
    if not DaemonGate.allowed:
        raise AssertionError(f"only tests marked e2e may start the daemon process: {what!r}")


def is_daemon_command(args: Any) -> bool:
    """Whether ``args`` (a Popen argument) starts the daemon: ``aman run`` or ``-m aman run``."""
    argv = [str(a) for a in args] if isinstance(args, list | tuple) else str(args).split()
    names = [Path(a).name for a in argv]
    return any(name == "aman" and names[i + 1:i + 2] == ["run"] for i, name in enumerate(names))


def count_deliveries(runtime: Runtime, names: Sequence[str], event_filter: Any) -> dict[str, int]:
    """Subscribe a handler per name that only counts its calls; return the live counts."""
    calls = dict.fromkeys(names, 0)

    def counter(name: str) -> Callable[[Event], Awaitable[None]]:
        async def handle(event: Event) -> None:
            calls[name] += 1
        return handle

    for name in names:
        runtime.bus.subscribe(name, counter(name), event_filter)
    return calls


async def let_run(turns: int) -> None:
    """Give the event loop ``turns`` turns, so tasks started just before get that far."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def pace_until(due: float) -> None:
    """Sleep until the monotonic time ``due``: pacing a load, not waiting on a condition."""
    await asyncio.sleep(max(0.0, due - time.monotonic()))
