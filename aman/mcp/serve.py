"""``aman mcp serve``: aman as a stdio MCP server, so MCP clients can use the running daemon.

It holds no state of its own: every tool is one or two calls to the daemon's HTTP API with its
token, and a refusal comes back to the client as a tool error carrying the daemon's message and
hint. Tools: ``sessions_list``, ``session_messages``, ``message_send`` (to a session, or to an
agent in a new session, returning the reply), ``approvals_pending``, ``approval_respond``,
``events_recent``, ``notifications_list``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from aman import __version__

#: A reply can take as long as the daemon's chat.wait_timeout_sec and then some.
_SEND_TIMEOUT_SEC = 600.0
_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)


class DaemonClient:
    """The daemon's HTTP API, as the tools need it."""

    def __init__(self, base_url: str, token: str | None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0,
                                       transport=transport)

    async def call(self, method: str, path: str, *, json_body: Any = None,
                   params: dict[str, Any] | None = None,
                   timeout: float | None = None) -> Any:
        """One request; the JSON answer, or ``ToolError`` with the daemon's message and hint."""
        try:
            response = await self._http.request(
                method, path, json=json_body, params=params,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise ToolError(f"the aman daemon at {self._http.base_url} does not answer: "
                            f"{exc}; start it with `aman run`") from None
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                text = f"{error['code']}: {error['message']} ({error['hint']})"
            except (ValueError, KeyError, TypeError):
                text = response.text[:500]
            raise ToolError(f"aman answered {response.status_code}: {text}")
        return response.json()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


def build_server(client: DaemonClient) -> MCPServer[Any]:
    """The MCP server whose tools call the daemon through ``client``."""
    server: MCPServer[Any] = MCPServer(
        "aman", version=__version__,
        instructions="Tools of a running aman daemon: its chat sessions, approvals of tool "
                     "calls, recent events and notifications.")

    @server.tool(annotations=_READ)
    async def sessions_list(agent_id: str | None = None, limit: int = 20) -> str:
        """Chat sessions, most recently active first (optionally of one agent)."""
        params: dict[str, Any] = {"limit": max(1, min(limit, 100))}
        if agent_id:
            params["agent_id"] = agent_id
        return _json(await client.call("GET", "/chat/sessions", params=params))

    @server.tool(annotations=_READ)
    async def session_messages(session_id: str) -> str:
        """A session's state and its visible messages."""
        return _json(await client.call("GET", f"/chat/session/{session_id}/state"))

    @server.tool(annotations=_WRITE)
    async def message_send(text: str, session_id: str | None = None,
                           agent_id: str | None = None) -> str:
        """Send ``text`` to a session (or to an agent, in a new session) and return the reply."""
        if not session_id:
            created = await client.call("POST", "/chat/session/create",
                                        json_body={"agent_id": agent_id} if agent_id else {})
            session_id = str(created["id"])
        answer = await client.call("POST", f"/chat/session/{session_id}/send",
                                   json_body={"text": text, "wait": True},
                                   timeout=_SEND_TIMEOUT_SEC)
        reply = answer.get("reply")
        return _json({"session_id": session_id, "message_id": answer.get("message_id"),
                      "reply": reply.get("content") if isinstance(reply, dict) else None,
                      "status": reply.get("status") if isinstance(reply, dict) else "pending"})

    @server.tool(annotations=_READ)
    async def approvals_pending() -> str:
        """Tool calls waiting for a human's approval, oldest first."""
        return _json(await client.call("GET", "/tool-auth/pending"))

    @server.tool(annotations=_WRITE)
    async def approval_respond(auth_id: str, approved: bool,
                               remember_for_session: bool = False) -> str:
        """Approve or deny a pending tool call by its auth_id or 6-character code."""
        body: dict[str, Any] = {"auth_id": auth_id, "approved": approved}
        if remember_for_session:
            body["remember"] = "session"
        return _json(await client.call("POST", "/tool-auth/respond", json_body=body))

    @server.tool(annotations=_READ)
    async def events_recent(limit: int = 20) -> str:
        """The newest events, newest first."""
        return _json(await client.call("GET", "/events/recent",
                                       params={"limit": max(1, min(limit, 500))}))

    @server.tool(annotations=_READ)
    async def notifications_list(limit: int = 20, active_only: bool = True) -> str:
        """Notifications, newest first, with the unread count."""
        return _json(await client.call("GET", "/notifications", params={
            "limit": max(1, min(limit, 200)), "active_only": str(active_only).lower()}))

    return server


async def serve_stdio(base_url: str, token: str | None) -> None:
    """Serve MCP on stdin/stdout until the client closes them."""
    client = DaemonClient(base_url, token)
    try:
        await build_server(client).run_stdio_async()
    finally:
        await client.aclose()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
