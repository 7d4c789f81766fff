"""Posting text back through each platform's own API: Telegram, Slack and the generic webhook.

A sender posts one part of a reply and raises ``DeliveryFailedError`` when the platform did not
take it; the error carries ``retry_after_sec`` when the platform said when to come back (HTTP
429 ``Retry-After``, Telegram's ``parameters.retry_after``), which the bus honours before its
next attempt. Long texts are split before sending, at the platform's limit, preferring line and
word boundaries.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aman.channels.generic import generic_signature
from aman.channels.model import ReplyTarget
from aman.config.reach import DEFAULT_API_BASE, ChannelSettings

if TYPE_CHECKING:
    import httpx

#: Characters per message each platform accepts (Telegram's documented 4 096; Slack truncates
#: past 40 000 and advises 4 000). The generic bridge gets the whole text.
TEXT_LIMIT = {"telegram": 4096, "slack": 4000}


class DeliveryFailedError(Exception):
    """The platform did not take a part; the bus retries, then parks the delivery."""

    def __init__(self, message: str, *, retry_after_sec: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_sec = retry_after_sec


def split_text(text: str, limit: int | None) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at a newline or a space when one
    is in the second half of the part, else hard."""
    if limit is None or len(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n"), window.rfind(" "))
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n ") if cut < limit else rest[cut:]
    if rest:
        parts.append(rest)
    return parts


async def send_part(client: httpx.AsyncClient, config: ChannelSettings, target: ReplyTarget,
                    text: str, *, delivery_key: str, part: int, parts: int) -> None:
    """Post one part to ``target``'s platform; ``DeliveryFailedError`` unless it was taken."""
    import httpx

    request = _request(config, target, text, delivery_key=delivery_key, part=part, parts=parts)
    where = f"{target.platform}/{target.instance}"
    try:
        response = await client.post(request.url, content=request.body, headers=request.headers,
                                     timeout=config.send_timeout_sec)
    except httpx.HTTPError as exc:
        raise DeliveryFailedError(f"{where}: sending failed: {exc!r}") from None
    _check(target.platform, where, response)


class _Request:
    def __init__(self, url: str, body: dict[str, Any], headers: dict[str, str],
                 secret: bytes | None = None) -> None:
        self.url = url
        self.body = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self.headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        if secret:
            self.headers["X-Aman-Signature"] = generic_signature(secret, self.body)


def _request(config: ChannelSettings, target: ReplyTarget, text: str, *, delivery_key: str,
             part: int, parts: int) -> _Request:
    base = (config.api_base or DEFAULT_API_BASE.get(target.platform, "")).rstrip("/")
    token = config.bot_token.get_secret_value()
    if target.platform == "telegram":
        body: dict[str, Any] = {"chat_id": target.chat_id, "text": text}
        if target.thread_id is not None:
            body["message_thread_id"] = int(target.thread_id) if target.thread_id.isdigit() \
                else target.thread_id
        return _Request(f"{base}/bot{token}/sendMessage", body, {})
    if target.platform == "slack":
        body = {"channel": target.chat_id, "text": text}
        if target.thread_id is not None:
            body["thread_ts"] = target.thread_id
        return _Request(f"{base}/chat.postMessage", body, {"Authorization": f"Bearer {token}"})
    body = {"chat_id": target.chat_id, "thread_id": target.thread_id, "text": text,
            "delivery": delivery_key, "part": part, "parts": parts}
    return _Request(str(config.reply_url), body,
                    {"X-Aman-Delivery": f"{delivery_key}#{part}"},
                    secret=config.secret.get_secret_value().encode())


def _check(platform: str, where: str, response: httpx.Response) -> None:
    status = response.status_code
    data: Any = None
    if platform in ("telegram", "slack"):
        try:
            data = response.json()
        except ValueError:
            data = None
    retry_after = _retry_after(response, data)
    if status == 429 or (isinstance(data, dict) and data.get("error_code") == 429):
        raise DeliveryFailedError(f"{where}: rate limited (429)", retry_after_sec=retry_after)
    if status >= 300:
        detail = _platform_error(data) or response.text[:200]
        raise DeliveryFailedError(f"{where}: the platform answered {status}: {detail}",
                                  retry_after_sec=retry_after)
    if platform in ("telegram", "slack") and not (isinstance(data, dict) and data.get("ok")):
        raise DeliveryFailedError(
            f"{where}: the platform refused the message: {_platform_error(data) or 'not ok'}")


def _retry_after(response: httpx.Response, data: Any) -> float | None:
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    if isinstance(data, dict):
        value = (data.get("parameters") or {}).get("retry_after")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _platform_error(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    return data.get("description") or data.get("error")
