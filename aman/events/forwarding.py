"""Webhook forwarders: subscribers that POST matching events to an HTTP endpoint.

Each forwarder is an ordinary bus subscriber named ``forward:<name>``, so a receiver that is down
gets the bus's retries and then the DLQ, and a DLQ retry re-sends once it is back. Bodies are the
event JSON, signed like the generic inbound webhook: ``X-Aman-Signature: sha256=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from aman.config.settings import ForwarderSettings
from aman.events.filters import EventFilter
from aman.events.model import Event

if TYPE_CHECKING:
    import httpx

    from aman.events.bus import EventBus
    from aman.events.subscribers import Unsubscribe

log = logging.getLogger(__name__)


class ForwardingFailedError(Exception):
    """The receiver did not accept the event (the bus retries, then parks it)."""


class WebhookForwarders:
    """Owns the HTTP client and the subscriptions of every configured forwarder."""

    def __init__(self, configs: list[ForwarderSettings]) -> None:
        self._configs = configs
        self._client: httpx.AsyncClient | None = None
        self._unsubscribes: list[Unsubscribe] = []

    async def start(self, bus: EventBus) -> None:
        """Subscribe one handler per forwarder."""
        if not self._configs:
            return
        import httpx  # only daemons that forward pay for the import

        self._client = httpx.AsyncClient(follow_redirects=False)
        for config in self._configs:
            event_filter = EventFilter(
                event_types=frozenset(config.event_types) if config.event_types else None,
                sources=frozenset(config.sources) if config.sources else None,
            )
            self._unsubscribes.append(
                bus.subscribe(f"forward:{config.name}", self._handler(config), event_filter,
                              timeout=config.timeout_sec + 1)
            )

    async def stop(self) -> None:
        """Unsubscribe and close the client."""
        for unsubscribe in self._unsubscribes:
            unsubscribe()
        self._unsubscribes.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _handler(self, config: ForwarderSettings) -> Any:
        secret = config.secret.get_secret_value().encode()

        async def forward(event: Event) -> None:
            import httpx

            assert self._client is not None
            body = json.dumps(event.to_json(), separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json", "X-Aman-Event-Id": event.id}
            if secret:
                digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
                headers["X-Aman-Signature"] = f"sha256={digest}"
            try:
                response = await self._client.post(str(config.url), content=body, headers=headers,
                                                   timeout=config.timeout_sec)
            except httpx.HTTPError as exc:
                raise ForwardingFailedError(f"POST {config.url} failed: {exc!r}") from None
            if response.status_code >= 300:
                raise ForwardingFailedError(f"POST {config.url} answered {response.status_code}")

        return forward
