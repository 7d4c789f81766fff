"""ServerConnection: one MCP server's session, kept alive in the background with its state.

One tracked task per server runs the loop: resolve the configuration, connect within
``connect_timeout_sec`` (stdio: the SDK starts the command in its own process group and kills
that group when the session closes), list tools, resources and prompts, then watch: a closed
connection, a failed keep-alive ping or a reconnect request ends the session; a
``tools/list_changed`` notification lists the tools again. A failed or dropped server is retried
with backoff (1 s doubling, capped at 60 s) for as long as it is configured. A call that times
out fails that call only. A stdio server's stderr is logged line by line under its name.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import mcp_types
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from aman import __version__
from aman.clock import Clock
from aman.errors import AmanError
from aman.mcp.model import CallTimedOut, NotConnectedError, ServerState
from aman.mcp.resolve import ResolvedServer, ServerSpec, resolve
from aman.mcp.stderr import StderrPipe
from aman.mcp.streams import WatchedStream

log = logging.getLogger(__name__)

#: Retry delays double from here up to the cap, and go back to the start once connected.
BACKOFF_START_SEC = 1.0
BACKOFF_CAP_SEC = 60.0
#: How often a connected server is pinged: the only way to notice an HTTP server that went away.
PING_INTERVAL_SEC = 5.0
#: How long listing tools again after ``list_changed`` may take before the session is dropped.
_LIST_TIMEOUT_SEC = 30.0
#: How long a stopping stdio server may take to leave on its own before its group is killed.
STOP_GRACE_SEC = 1.0
#: Lines of a stdio server's stderr kept to explain why it failed.
_STDERR_TAIL = 5


@dataclass(frozen=True)
class Listing:
    """What a connected server offers (SDK objects)."""

    tools: tuple[mcp_types.Tool, ...] = ()
    resources: tuple[mcp_types.Resource, ...] = ()
    prompts: tuple[mcp_types.Prompt, ...] = ()
    has_resources: bool = False
    has_prompts: bool = False


def next_delay(delay: float) -> float:
    """The wait before the retry after one that waited ``delay``: doubled, capped at 60 s."""
    return min(BACKOFF_CAP_SEC, delay * 2)


class _Restart(Exception):
    """A reconnect was asked for: end this session and connect again at once."""


class ServerConnection:
    """One configured server: its background task, state and live session."""

    def __init__(self, spec: ServerSpec, *, clock: Clock,
                 on_state: Callable[[ServerConnection, ServerState], None],
                 on_listing: Callable[[ServerConnection], None],
                 environ: Callable[[], dict[str, str]] = lambda: dict(os.environ)) -> None:
        self.spec = spec
        self.name = spec.name
        self._clock = clock
        self._on_state = on_state
        self._on_listing = on_listing
        self._environ = environ
        self.state = ServerState.CONNECTING
        self.since_ms = clock.now_ms()
        self.last_error: str | None = spec.problem
        self.attempts = 0
        self.next_retry_ms: int | None = None
        self.listing = Listing()
        self.resolved: ResolvedServer | None = None
        self.server_info: str | None = None
        self._session: ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # reconnect asked, or list_changed arrived
        self._restart = False
        self._relist = False
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)
        self._stderr_pipe: StderrPipe | None = None

    @property
    def transport(self) -> str:
        """stdio, http or sse (``unknown`` for an entry that could not be read)."""
        return self.spec.settings.kind if self.spec.settings is not None else "unknown"

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, spawn: Callable[[str, Any], asyncio.Task[Any]]) -> None:
        """Begin connecting in the background (or show ``disabled``)."""
        if self.spec.settings is not None and not self.spec.settings.enabled:
            self._set(ServerState.DISABLED, None)
            return
        self._task = spawn(f"mcp:{self.name}", self._run())

    async def stop(self) -> None:
        """End the session (stdio: the server's process group is gone when this returns).

        The SDK closes the server's stdin and gives it seconds to leave before it terminates the
        group; a server still there after ``STOP_GRACE_SEC`` is killed at once, so a stop fits
        the daemon's drain budget and never leaves a process behind.
        """
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_GRACE_SEC)
            if not task.done() and self._stderr_pipe is not None:
                self._stderr_pipe.kill_group()  # the SDK is still waiting: not reaped yet
            await asyncio.gather(task, return_exceptions=True)
        self._session = None

    def reconnect(self) -> None:
        """Drop the session if any and connect again now, whatever the backoff said."""
        self._restart = True
        self._wake.set()

    # --- calls -----------------------------------------------------------------------------

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        """Call ``tool``; ``CallTimedOut`` after ``timeout_sec``, the session staying up."""
        session, timeout = self._live()
        try:
            result = await session.call_tool(tool, arguments, read_timeout_seconds=timeout)
        except MCPError as exc:
            raise self._call_error(exc, timeout) from None
        assert isinstance(result, mcp_types.CallToolResult)
        return result

    async def read_resource(self, uri: str) -> mcp_types.ReadResourceResult:
        """Read one resource of this server."""
        session, timeout = self._live()
        try:
            result = await asyncio.wait_for(session.read_resource(uri), timeout)
        except TimeoutError:
            raise CallTimedOut(f"no answer within {timeout:g}s (timeout_sec)") from None
        except MCPError as exc:
            raise self._call_error(exc, timeout) from None
        assert isinstance(result, mcp_types.ReadResourceResult)
        return result

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> mcp_types.GetPromptResult:
        """Render one prompt of this server."""
        session, timeout = self._live()
        try:
            result = await asyncio.wait_for(session.get_prompt(name, arguments), timeout)
        except TimeoutError:
            raise CallTimedOut(f"no answer within {timeout:g}s (timeout_sec)") from None
        except MCPError as exc:
            raise self._call_error(exc, timeout) from None
        assert isinstance(result, mcp_types.GetPromptResult)
        return result

    def _live(self) -> tuple[ClientSession, float]:
        if self._session is None or self.state is not ServerState.READY or self.resolved is None:
            raise NotConnectedError(f"MCP server {self.name} is {self.state.value}"
                                    + (f" ({self.last_error})" if self.last_error else ""))
        return self._session, self.resolved.timeout_sec

    def _call_error(self, exc: MCPError, timeout: float) -> Exception:
        if exc.error.code == mcp_types.REQUEST_TIMEOUT:
            return CallTimedOut(f"no answer within {timeout:g}s (timeout_sec); the call was "
                                "cancelled, the server stays connected")
        if exc.error.code == mcp_types.CONNECTION_CLOSED:
            self._wake.set()  # the watcher notices and reconnects
            return NotConnectedError(f"MCP server {self.name} closed the connection")
        return exc

    # --- the loop --------------------------------------------------------------------------

    def _set(self, state: ServerState, error: str | None) -> None:
        if state is self.state and error == self.last_error:
            return
        previous = self.state
        if state is not self.state:
            self.since_ms = self._clock.now_ms()
        self.state, self.last_error = state, error
        self._on_state(self, previous)

    async def _run(self) -> None:
        delay = BACKOFF_START_SEC
        while True:
            self.attempts += 1
            self.next_retry_ms = None
            error = await self._attempt()
            if error is None:  # a reconnect was asked for
                delay = BACKOFF_START_SEC
                continue
            if self.state is ServerState.READY:  # it was connected: retry soon
                delay = BACKOFF_START_SEC
            self._session = None
            self.listing = Listing()
            self._set(ServerState.FAILED, error)
            self._on_listing(self)
            log.warning("MCP server %s failed: %s (retry in %.0fs)", self.name, error, delay)
            self.next_retry_ms = self._clock.now_ms() + int(delay * 1000)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._restart = False
            delay = next_delay(delay)

    async def _attempt(self) -> str | None:
        """One session from connect to its end: the reason it ended, or None to reconnect."""
        if self.spec.settings is None:
            return self.spec.problem or "unusable entry"
        try:
            self.resolved = resolve(self.name, self.spec.settings, self._environ())
        except AmanError as exc:
            return exc.message
        was_ready = self.state is ServerState.READY
        self._set(ServerState.CONNECTING, self.last_error)
        if was_ready:  # reconnecting: its tools cannot run until it is back
            self._session, self.listing = None, Listing()
            self._on_listing(self)
        self._stderr.clear()
        try:
            await self._session_lifetime(self.resolved)
        except _Restart:
            return None
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - any failure is this server's alone
            return self._describe(exc)
        return "the session ended"

    async def _session_lifetime(self, server: ResolvedServer) -> None:
        lost = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(server.connect_timeout_sec):
                    read, write = await stack.enter_async_context(self._transport(server))
                    session = await stack.enter_async_context(ClientSession(
                        WatchedStream(read, lost), write, message_handler=self._on_message,
                        client_info=mcp_types.Implementation(name="aman", version=__version__)))
                    init = await session.initialize()
                    listing = await self._list(session, init.capabilities)
            except TimeoutError:
                raise TimeoutError(f"no answer within {server.connect_timeout_sec:g}s "
                                   "(connect_timeout_sec)") from None
            self.server_info = f"{init.server_info.name} {init.server_info.version}".strip()
            self._session, self.listing = session, listing
            self._restart = self._relist = False
            self._set(ServerState.READY, None)
            self._on_listing(self)
            await self._watch(session, lost, init.capabilities)

    async def _watch(self, session: ClientSession, lost: asyncio.Event,
                     capabilities: mcp_types.ServerCapabilities) -> None:
        while True:
            self._wake.clear()
            waiters = {asyncio.ensure_future(lost.wait()), asyncio.ensure_future(self._wake.wait())}
            try:
                await asyncio.wait(waiters, timeout=PING_INTERVAL_SEC,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if lost.is_set():
                raise ConnectionError("the server closed the connection")
            if self._restart:
                raise _Restart
            if self._relist:
                self._relist = False
                async with asyncio.timeout(_LIST_TIMEOUT_SEC):
                    self.listing = await self._list(session, capabilities)
                self._on_listing(self)
                continue
            limit = self.resolved.connect_timeout_sec if self.resolved else 30.0
            try:
                async with asyncio.timeout(limit):
                    await session.send_ping()
            except TimeoutError:
                raise TimeoutError(f"no answer to a keep-alive ping within {limit:g}s") from None

    async def _list(self, session: ClientSession,
                    capabilities: mcp_types.ServerCapabilities) -> Listing:
        tools: list[mcp_types.Tool] = []
        cursor: str | None = None
        while True:
            page = await session.list_tools(
                params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        resources: list[mcp_types.Resource] = []
        prompts: list[mcp_types.Prompt] = []
        if capabilities.resources is not None:
            with contextlib.suppress(MCPError):
                resources = list((await session.list_resources()).resources)
        if capabilities.prompts is not None:
            with contextlib.suppress(MCPError):
                prompts = list((await session.list_prompts()).prompts)
        # Helpers are offered only for what exists: an empty list is not worth a tool.
        return Listing(tuple(tools), tuple(resources), tuple(prompts), bool(resources),
                       bool(prompts))

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            self._relist = True
            self._wake.set()
        elif isinstance(message, Exception):
            log.debug("MCP server %s transport error: %s", self.name, message)
            self._wake.set()  # the watcher pings at once

    @contextlib.asynccontextmanager
    async def _transport(self, server: ResolvedServer) -> AsyncIterator[Any]:
        if server.transport == "stdio":
            params = StdioServerParameters(command=str(server.command), args=list(server.args),
                                           env=dict(server.env) or None, cwd=server.cwd)
            async with StderrPipe(self.name, self._stderr) as errlog:
                self._stderr_pipe = errlog
                try:
                    async with stdio_client(params, errlog=errlog.writer) as streams:
                        errlog.spawned()
                        yield streams
                except OSError as exc:
                    raise OSError(f"cannot start {server.command}: "
                                  f"{exc.strerror or exc}") from None
                finally:
                    self._stderr_pipe = None
            return
        if server.transport == "sse":
            async with sse_client(str(server.url), headers=dict(server.headers),
                                  timeout=server.connect_timeout_sec) as streams:
                yield streams
            return
        import httpx2

        # Headers and timeouts live on the HTTP client; reads wait at least as long as a call.
        timeout = httpx2.Timeout(server.connect_timeout_sec, read=max(300.0, server.timeout_sec))
        async with httpx2.AsyncClient(headers=dict(server.headers), timeout=timeout) as http, \
                streamable_http_client(str(server.url), http_client=http) as streams:
            yield streams

    def _describe(self, exc: BaseException) -> str:
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, MCPError):
            text = exc.error.message
        else:
            text = str(exc) or type(exc).__name__
        if self._stderr:
            text += f" (stderr: {self._stderr[-1]})"
        return text
