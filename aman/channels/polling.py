"""TelegramPoller: a Telegram bot's updates taken with ``getUpdates`` long polling.

Each request waits up to ``poll_timeout_sec`` at Telegram for new updates. The offset (the next
``update_id`` wanted) is stored in SQLite per instance and bot, and advanced only after the
update's event is committed: after a restart, or a ``kill -9`` between two updates, polling goes
on from the first update not yet committed, so none is lost; one whose event was committed just
before the kill (offset not yet stored) comes back once and is refused by the dedup index.

Telegram answers 409 while a webhook is set for the bot (polling and webhooks exclude each
other), and also when another process polls the same bot; both are shown with the fix. 429
carries ``parameters.retry_after``, which is waited exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aman.channels.pull import PlatformError, PullSource
from aman.events.sources import SourceState

if TYPE_CHECKING:
    import httpx

    from aman.channels.model import CursorRepository

#: Only the update kinds the adapter turns into messages (others would only be ignored).
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
#: Beyond the long-poll wait, how long a getUpdates request may take before it counts as lost.
_SLACK_SEC = 15.0


class TelegramPoller(PullSource):
    """``channels.telegram.<instance>`` in ``mode: poll``."""

    platform = "telegram"
    type = "telegram_poll"
    live_state = SourceState.POLLING

    def __init__(self, *args: Any, cursors: CursorRepository, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursors = cursors

    @property
    def cursor_key(self) -> str:
        """Per bot (the token's id part): another bot's update ids mean nothing here."""
        bot_id = self.channel_config.bot_token.get_secret_value().split(":", 1)[0]
        return f"telegram:{self.instance}:{bot_id}"

    def _extra_config(self) -> dict[str, Any]:
        return {"poll_timeout_sec": self.channel_config.poll_timeout_sec}

    async def _session(self) -> None:
        import httpx

        timeout = self.channel_config.poll_timeout_sec
        limits = httpx.Timeout(10.0, read=timeout + _SLACK_SEC)
        async with httpx.AsyncClient(follow_redirects=False, timeout=limits) as client:
            stored = await self._cursors.get(self.cursor_key)
            offset = int(stored) if stored is not None else None
            wait = 0  # the first call answers at once, so the state says "polling" at once
            while True:
                updates = await self.interruptibly(self._get_updates(client, offset, wait))
                self.live()
                wait = timeout
                for update in updates:
                    update_id = update.get("update_id") if isinstance(update, dict) else None
                    if not isinstance(update_id, int) or isinstance(update_id, bool):
                        continue  # nothing to confirm it by; Telegram never sends one
                    if offset is not None and update_id < offset:
                        continue  # confirmed before: Telegram should not send it again
                    await self.deliver(update)
                    offset = update_id + 1
                    await self._cursors.advance(self.cursor_key, str(offset), self._clock.now_ms())

    async def _get_updates(self, client: httpx.AsyncClient, offset: int | None,
                           timeout: int) -> list[Any]:
        import httpx

        token = self.channel_config.bot_token.get_secret_value()
        body: dict[str, Any] = {"timeout": timeout, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            body["offset"] = offset
        try:
            response = await client.post(f"{self.api_base}/bot{token}/getUpdates", json=body)
        except httpx.HTTPError as exc:
            raise PlatformError(f"getUpdates failed: {type(exc).__name__}: {exc}"
                                .replace(token, "<bot_token>")) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise PlatformError(f"getUpdates answered {response.status_code} without a JSON body")
        if data.get("ok") is True and isinstance(data.get("result"), list):
            return list(data["result"])
        raise self._refusal(response.status_code, data)

    def _refusal(self, status: int, data: dict[str, Any]) -> PlatformError:
        code = data.get("error_code", status)
        description = str(data.get("description") or "no description")
        where = f"channels.telegram.{self.instance}"
        said = f"Telegram refused getUpdates ({code}): {description}"
        if code == 429:
            retry_after = (data.get("parameters") or {}).get("retry_after")
            wait = float(retry_after) if isinstance(retry_after, int | float) else None
            return PlatformError(said, retry_after=wait)
        if code == 409 and "webhook" in description.lower():
            return PlatformError(said, hint=(
                "a webhook is set for this bot, and Telegram serves updates either to a webhook "
                "or to getUpdates: call deleteWebhook (POST https://api.telegram.org/bot<token>"
                f"/deleteWebhook) to keep polling, or set {where}.mode: webhook with a secret"))
        if code == 409:
            return PlatformError(said, hint=(
                "another process polls this bot with the same token; only one may: stop it, "
                "or give this instance its own bot"))
        if code in (401, 404):
            return PlatformError(said, hint=(
                f"Telegram does not know this token: check {where}.bot_token (from @BotFather)"))
        return PlatformError(said)
