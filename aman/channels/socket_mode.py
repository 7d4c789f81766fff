"""SlackSocket: a Slack app's events over Socket Mode, a WebSocket the daemon opens itself.

``apps.connections.open`` (with the app-level token ``xapp-…``) hands out a fresh ``wss://`` URL;
Slack greets with ``hello``, then sends envelopes ``{envelope_id, type, payload}``. An
``events_api`` envelope carries the same body as an Events API webhook; its message (``message``
or ``app_mention``) goes through the inbox, and the envelope is acknowledged
(``{"envelope_id": …}``) only once the event is committed: an envelope not acknowledged is sent
again by Slack, and the dedup key refuses a second copy. Other envelope types are acknowledged
and ignored. A ``disconnect`` message (Slack refreshes connections every few hours) reconnects
at once; a dropped socket reconnects with backoff. The client is the ``websockets`` library,
which also keeps the connection alive with pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from aman.channels.pull import PlatformError, PullSource
from aman.events.sources import SourceState

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

#: Errors of apps.connections.open only the operator can fix, with the fix.
_NEEDS_FIX = {
    "invalid_auth": "Slack does not accept this app_token",
    "not_authed": "no app_token was sent",
    "not_allowed_token_type": "app_token must be an app-level token (xapp-…), not a bot token",
    "missing_scope": "the app-level token lacks connections:write",
    "account_inactive": "the token's app or workspace is gone",
    "token_revoked": "the app-level token was revoked",
}
#: The socket handshake (TCP, TLS, upgrade) must finish within this many seconds.
_OPEN_TIMEOUT_SEC = 10.0
_CLOSE_TIMEOUT_SEC = 2.0


class SlackSocket(PullSource):
    """``channels.slack.<instance>`` in ``mode: socket``."""

    platform = "slack"
    type = "slack_socket"
    live_state = SourceState.CONNECTED

    async def _session(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, WebSocketException

        url = await self.interruptibly(self._open_url())
        try:
            socket = await self.interruptibly(connect(url, open_timeout=_OPEN_TIMEOUT_SEC,
                                                      max_size=None))
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise PlatformError(f"the Socket Mode connection failed: {type(exc).__name__}: "
                                f"{exc}") from None
        try:
            while True:
                try:
                    raw = await self.interruptibly(socket.recv())
                except ConnectionClosed as exc:
                    raise PlatformError(f"the socket dropped ({exc})") from None
                if not await self._handle(socket, raw):
                    return  # Slack asked for a new connection
        finally:
            # A dead peer never answers the closing handshake: do not wait long for it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), _CLOSE_TIMEOUT_SEC)

    async def _handle(self, socket: ClientConnection, raw: str | bytes) -> bool:
        """Handle one socket message; False when Slack asked to reconnect."""
        try:
            message = json.loads(raw)
        except ValueError:
            return True
        if not isinstance(message, dict):
            return True
        kind = message.get("type")
        if kind == "hello":
            self.live()
            return True
        if kind == "disconnect":
            reason = str(message.get("reason") or "")
            if reason == "link_disabled":
                raise PlatformError("Slack closed the socket: link_disabled", hint=(
                    "Socket Mode is turned off for this app: turn it on under Settings → "
                    "Socket Mode, or set "
                    f"channels.slack.{self.instance}.mode: webhook with a signing secret"))
            self.connecting()
            return False
        envelope_id = message.get("envelope_id")
        if kind == "events_api" and isinstance(message.get("payload"), dict):
            await self.deliver(message["payload"])  # committed before the ack below
        if isinstance(envelope_id, str):
            from websockets.exceptions import ConnectionClosed

            try:
                await socket.send(json.dumps({"envelope_id": envelope_id}))
            except ConnectionClosed as exc:  # Slack sends it again; the dedup key catches it
                raise PlatformError(f"the socket dropped before an ack ({exc})") from None
        return True

    async def _open_url(self) -> str:
        """A fresh WebSocket URL from ``apps.connections.open``."""
        import httpx

        token = self.channel_config.app_token.get_secret_value()
        where = f"channels.slack.{self.instance}.app_token"
        try:
            async with httpx.AsyncClient(follow_redirects=False, timeout=15.0) as client:
                response = await client.post(f"{self.api_base}/apps.connections.open",
                                             headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise PlatformError(f"apps.connections.open failed: {type(exc).__name__}: {exc}"
                                ) from None
        if response.status_code == 429:
            raise PlatformError("Slack rate-limited apps.connections.open (429)",
                                retry_after=_retry_after(response.headers.get("retry-after")))
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise PlatformError(f"apps.connections.open answered {response.status_code} "
                                "without a JSON body")
        if data.get("ok") is True and isinstance(data.get("url"), str):
            return str(data["url"])
        error = str(data.get("error") or f"HTTP {response.status_code}")
        said = f"Slack refused apps.connections.open: {error}"
        if error in _NEEDS_FIX:
            raise PlatformError(said, hint=f"{_NEEDS_FIX[error]}: check {where}")
        raise PlatformError(said)


def _retry_after(header: str | None) -> float | None:
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None
