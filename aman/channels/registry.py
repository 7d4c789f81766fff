"""ChannelRegistry: the configured IM channel instances and their adapters, swapped on reload.

Built from ``settings.channels`` (``platform → instance → ChannelSettings``). Adapter classes
arrive through the plugin API (``register_channel_adapters``; the built-in ones from the default
plugin ``core-channels``), so a platform serves requests only while its plugin is enabled.
Adapters are immutable; ``reload`` builds a new one and replaces the old in one assignment, so a
request in flight finishes under the configuration it started with and the next one sees the new.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from aman.channels.base import ChannelAdapter
from aman.channels.generic import GenericAdapter
from aman.channels.slack import SlackAdapter
from aman.channels.telegram import TelegramAdapter
from aman.config.loader import reread_settings
from aman.config.reach import ChannelSettings, intake_mode
from aman.config.settings import Settings
from aman.errors import NotFoundError

#: Told which instance (or, with None, which platform) changed; the intake follows it.
Listener = Callable[[str, str | None], None]

#: The built-in adapter of each platform (registered by the default plugin ``core-channels``); a
#: test proves its keys are ``settings.CHANNEL_PLATFORMS``.
ADAPTERS: dict[str, type[ChannelAdapter]] = {
    "telegram": TelegramAdapter,
    "slack": SlackAdapter,
    "generic": GenericAdapter,
}


@dataclass(frozen=True)
class ChannelReloaded:
    """What a reload changed, for the response and the audit record; never a secret's value."""

    platform: str
    instance: str
    added: bool
    changed: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Wire shape."""
        return {
            "platform": self.platform,
            "instance": self.instance,
            "added": self.added,
            "changed": list(self.changed),
        }


class ChannelRegistry:
    """Which channel instances exist and the adapter serving each."""

    def __init__(self, channels: Mapping[str, Mapping[str, ChannelSettings]]) -> None:
        self._configs = {platform: dict(instances) for platform, instances in channels.items()}
        self._classes: dict[str, type[ChannelAdapter]] = {}
        self._adapters: dict[tuple[str, str], ChannelAdapter] = {}
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Call ``listener(platform, instance)`` after an instance changes, and
        ``listener(platform, None)`` after a platform starts or stops being served."""
        self._listeners.append(listener)

    def _notify(self, platform: str, instance: str | None) -> None:
        for listener in self._listeners:
            listener(platform, instance)

    def add_platform(self, adapter: type[ChannelAdapter]) -> None:
        """Serve ``adapter.platform`` with this class, for every configured instance."""
        self._classes[adapter.platform] = adapter
        for instance, config in self._configs.get(adapter.platform, {}).items():
            self._adapters[(adapter.platform, instance)] = adapter(instance, config)
        self._notify(adapter.platform, None)

    def remove_platform(self, platform: str) -> None:
        """Stop serving ``platform`` (its plugin was disabled)."""
        self._classes.pop(platform, None)
        for key in [key for key in self._adapters if key[0] == platform]:
            del self._adapters[key]
        self._notify(platform, None)

    @property
    def platforms(self) -> list[str]:
        """Platforms with an adapter registered, sorted."""
        return sorted(self._classes)

    def get(self, platform: str, instance: str) -> ChannelAdapter:
        """The adapter of ``platform/instance``, or ``NotFoundError`` naming what is missing."""
        self._check_registered(platform)
        adapter = self._adapters.get((platform, instance))
        if adapter is None:
            raise _unknown_instance(platform, instance, self.instances(platform))
        return adapter

    def instances(self, platform: str) -> list[str]:
        """Configured instance names of ``platform``, sorted."""
        return sorted(i for p, i in self._adapters if p == platform)

    def describe(self, platform: str, instance: str) -> dict[str, Any]:
        """The configuration in force, without the secret."""
        config = self.get(platform, instance).config
        return {
            "platform": platform,
            "instance": instance,
            "enabled": config.enabled,
            "secret_configured": bool(config.secret.get_secret_value()),
            "allowed_chats": list(config.allowed_chats),
            "agent_id": config.agent_id,
            "mode": intake_mode(platform, config),
        }

    def reload(self, platform: str, instance: str, config: ChannelSettings) -> ChannelReloaded:
        """Serve ``platform/instance`` with ``config`` from now on (adding it if new)."""
        self._check_registered(platform)
        old = self._adapters.get((platform, instance))
        self._configs.setdefault(platform, {})[instance] = config
        self._adapters[(platform, instance)] = self._classes[platform](instance, config)
        changed = _changed_fields(old.config, config) if old is not None else ()
        self._notify(platform, instance)
        return ChannelReloaded(platform, instance, added=old is None, changed=changed)


    def _check_registered(self, platform: str) -> None:
        check_platform(platform)
        if platform not in self._classes:
            raise NotFoundError(
                f"IM platform {platform!r} is not served: the plugin providing it is disabled",
                code="channel_not_found",
                hint="Enable the plugin that registers this platform (GET /plugins).",
            )


def reread_channel(
    config_path: Path | None, current: Settings, platform: str, instance: str
) -> ChannelSettings:
    """``channels.<platform>.<instance>`` as the config file says now (blocking file I/O).

    Read by ``reread_settings`` (``ConfigError`` naming the key when the file no longer
    validates); ``NotFoundError`` when the instance is not in it.
    """
    check_platform(platform)
    fresh = reread_settings(config_path, current, keeps=f"{platform}/{instance}")
    return channel_settings(fresh, platform, instance)


def channel_settings(settings: Settings, platform: str, instance: str) -> ChannelSettings:
    """``channels.<platform>.<instance>`` of ``settings``, or ``NotFoundError`` naming it."""
    check_platform(platform)
    instances = settings.channels.get(platform, {})
    if instance not in instances:
        raise _unknown_instance(platform, instance, sorted(instances))
    return instances[instance]


def check_platform(platform: str) -> None:
    """Raise ``NotFoundError`` naming the supported platforms unless ``platform`` is one."""
    if platform not in ADAPTERS:
        raise NotFoundError(
            f"no IM platform {platform!r}; supported: {', '.join(sorted(ADAPTERS))}",
            code="channel_not_found",
            hint="Use one of the supported platforms in the path.",
        )


def _unknown_instance(platform: str, instance: str, known: list[str]) -> NotFoundError:
    return NotFoundError(
        f"no IM channel {platform}/{instance} is configured"
        f" (configured {platform} instances: {', '.join(known) or 'none'})",
        code="channel_not_found",
        hint=f"Add channels.{platform}.{instance} to the config file, then "
        f"POST /im-channel/{platform}/{instance}/reload.",
    )


def _changed_fields(old: ChannelSettings, new: ChannelSettings) -> tuple[str, ...]:
    def plain(config: ChannelSettings, name: str) -> object:
        value = getattr(config, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    return tuple(
        name for name in ChannelSettings.model_fields if plain(old, name) != plain(new, name)
    )
