"""How each live key takes effect on the running services when ``POST /config/set`` changes it.

An applier receives the new settings and the keys that changed; ``None`` means the key is read
from the settings at use time and needs no applier. The services come in as arguments, so this
module knows their interfaces but not how the runtime holds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aman.config.changes import Applier
from aman.config.override import LIVE_KEYS
from aman.config.settings import Settings

if TYPE_CHECKING:
    from aman.channels.registry import ChannelRegistry
    from aman.events.backpressure import RateLimiter
    from aman.events.bus import EventBus
    from aman.events.dlq import DeadLetterService
    from aman.mcp.manager import McpManager
    from aman.notifications.service import NotificationService
    from aman.skills.registry import SkillService


def live_appliers(
    *,
    bus: EventBus,
    rate_limiter: RateLimiter,
    dlq: DeadLetterService,
    notifications: NotificationService,
    skills: SkillService,
    channels: ChannelRegistry,
    mcp: Callable[[], McpManager],
) -> dict[str, Applier | None]:
    """The applier of every key in ``LIVE_KEYS``, chosen by the longest matching prefix."""
    from aman.channels.registry import channel_settings
    from aman.events.dlq import DAY_MS
    from aman.events.retry import RetryPolicy

    def apply_bus(s: Settings, _: Sequence[str]) -> None:
        b = s.event_bus
        bus.reconfigure(max_queue_size=b.max_queue_size,
                        handler_timeout_sec=b.handler_timeout_sec,
                        retry=RetryPolicy(tuple(b.retry_backoff_ms), b.max_retries))

    def apply_rate(s: Settings, _: Sequence[str]) -> None:
        rate_limiter.reconfigure(s.event_bus.rate_limit_per_sec, s.event_bus.rate_limit_burst)

    def apply_dlq(s: Settings, _: Sequence[str]) -> None:
        dlq.ttl_ms = int(s.dlq.ttl_days * DAY_MS)
        dlq.max_manual_retries = s.dlq.max_manual_retries

    def apply_notifications(s: Settings, _: Sequence[str]) -> None:
        notifications.max_stored = s.notifications.max_stored

    def apply_log_level(s: Settings, _: Sequence[str]) -> None:
        logging.getLogger("aman").setLevel(s.runtime.log_level)

    def apply_skills(s: Settings, _: Sequence[str]) -> None:
        if skills.watcher is not None:  # else boot starts it with the new value
            skills.watcher.set_debounce(s.skills.debounce_ms)

    def apply_channels(s: Settings, keys: Sequence[str]) -> None:
        for platform, instance in sorted({tuple(k.split(".")[1:3]) for k in keys}):
            channels.reload(platform, instance, channel_settings(s, platform, instance))

    def apply_mcp(s: Settings, _: Sequence[str]) -> None:
        mcp().reconfigure(s.mcp)

    # Order matters: the first prefix that matches wins, so the narrower ones come first.
    by_prefix: dict[str, Applier | None] = {
        "event_bus.rate_limit_": apply_rate, "event_bus.retention_": None,
        "event_bus.": apply_bus, "runtime.drain_timeout_sec": None,
        "runtime.log_level": apply_log_level, "dlq.": apply_dlq, "stream.": None,
        "notifications.": apply_notifications, "skills.": apply_skills,
        "channels.": apply_channels, "info_hub.": None, "mcp.": apply_mcp,
    }
    return {key: next(a for prefix, a in by_prefix.items() if key.startswith(prefix))
            for key in LIVE_KEYS}
