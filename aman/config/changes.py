"""ConfigService: live configuration changes (``POST /config/set``).

A change set is checked key by key (exists, may change at run time, not pinned by an ``AMAN_*``
environment variable), then validated as a whole new ``Settings``. Only then is it applied to the
running components, persisted to ``<runtime.dir>/config.override.yaml`` (so it survives a
restart), swapped in as the settings in force, audited with old and new values (secrets as
``***``) and announced as a ``config_changed`` event. A rejected change set changes nothing; if
applying fails midway, what was applied is rolled back.

Which keys are live is ``aman.config.override.LIVE_KEYS``; how each takes effect is an *applier*
the composition root wires (services never reach into the Runtime). ``None`` as an applier means
the component reads the settings in force at use time, so swapping them is enough.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from aman.audit.log import AuditLog
from aman.config.override import LIVE_KEYS, live_pattern, read_override, write_override
from aman.config.secrets import REDACTED, is_secret, masked
from aman.config.settings import Settings
from aman.errors import AmanError, ConfigError, ConflictError, InternalError
from aman.events.ports import FactEmitter
from aman.events.types import CONFIG_CHANGED

log = logging.getLogger(__name__)

#: Makes one group of live keys take effect: called with the new settings and the changed keys
#: it serves, and called again with the previous settings to roll back (so it must be idempotent).
Applier = Callable[[Settings, Sequence[str]], None]

CONFIG_SOURCE = "system:config"
_ENV_PREFIX, _ENV_NESTING = "AMAN_", "__"
_MISSING: Any = object()


@dataclass(frozen=True)
class ConfigChange:
    """One key's previous and new value (plain JSON values, secrets included: redact to show)."""

    key: str
    old: Any
    new: Any
    secret: bool

    def shown(self) -> dict[str, Any]:
        """Old and new as safe to show, audit and announce."""
        if self.secret:
            return {"old": REDACTED, "new": REDACTED}
        return {"old": masked(self.old), "new": masked(self.new)}


@dataclass(frozen=True)
class ConfigApplied:
    """What a successful ``POST /config/set`` did."""

    changes: tuple[ConfigChange, ...]
    override_path: Path

    def redacted(self) -> dict[str, dict[str, Any]]:
        """``{key: {old, new}}`` with secrets as ``***``."""
        return {change.key: change.shown() for change in self.changes}

    def to_json(self) -> dict[str, Any]:
        """Wire shape of the response."""
        shown = self.redacted()
        return {
            "ok": True,
            "applied": {key: values["new"] for key, values in shown.items()},
            "previous": {key: values["old"] for key, values in shown.items()},
            "restart_required": [],
            "persisted_to": str(self.override_path),
        }


class ConfigService:
    """Validates, applies, persists, audits and announces live configuration changes."""

    def __init__(
        self,
        *,
        settings: Callable[[], Settings],
        swap: Callable[[Settings], None],
        appliers: Mapping[str, Applier | None],
        audit: AuditLog,
        bus: FactEmitter,
        override_path: Path,
        environ: Mapping[str, str],
        reread: Callable[[], Settings] | None = None,
    ) -> None:
        missing = sorted(set(LIVE_KEYS) - set(appliers))
        unknown = sorted(set(appliers) - set(LIVE_KEYS))
        if missing or unknown:  # a wiring mistake in the composition root, caught by any test
            raise ValueError(f"live keys without an applier: {missing}; "
                             f"appliers for no key: {unknown}")
        self._settings = settings
        self._swap = swap
        self._appliers = dict(appliers)
        self._audit = audit
        self._bus = bus
        self.override_path = override_path
        self._environ = environ
        #: The layers read again from disk (blocking), for ``unset``.
        self._reread = reread
        self._lock = asyncio.Lock()

    # --- reading -------------------------------------------------------------------------------

    def live_keys(self) -> list[dict[str, Any]]:
        """Every key that can change now, with its value in force (redacted) and any pin."""
        settings = self._settings()
        return [
            {
                "key": key,
                "value": _shown(key, _lookup(settings, key)),
                "takes_effect": LIVE_KEYS[str(live_pattern(key))],
                "pinned_by": self._pinned_by(key),
            }
            for key in _concrete_live_keys(settings)
        ]

    # --- changing ------------------------------------------------------------------------------

    async def set(self, changes: Mapping[str, Any], *, operator: str,
                  request_id: str | None = None) -> ConfigApplied:
        """Apply ``{dotted key: value}`` atomically; raise ``ConfigError`` and change nothing if
        any key is unknown, restart-only, pinned by the environment, or any value is invalid."""
        if not changes:
            raise ConfigError("no changes given", code="validation_error",
                              hint='Send {"changes": {"event_bus.max_queue_size": 5000}}.')
        async with self._lock:
            current = self._settings()
            self._check_keys(current, list(changes))
            new = _validated(current, changes)
            applied = ConfigApplied(
                tuple(ConfigChange(key, _plain(_lookup(current, key)), _plain(_lookup(new, key)),
                                   is_secret(key, _lookup(current, key))) for key in changes),
                self.override_path,
            )
            # Read before applying anything: a broken file is refused while nothing has changed.
            stored = await asyncio.to_thread(read_override, self.override_path)
            for change in applied.changes:  # a key set anew replaces what was stored below it
                stored = {k: v for k, v in stored.items() if not k.startswith(change.key + ".")}
            stored.update({change.key: change.new for change in applied.changes})
            await self._apply(current, new, list(changes), stored)
            self._swap(new)
        log.info("configuration changed by %s: %s", operator, applied.redacted())
        await self._record(applied, operator, request_id)
        self._bus.emit(CONFIG_CHANGED, {
            "changed_fields": [change.key for change in applied.changes],
            "changes": applied.redacted(),
            "operator": operator,
            "persisted_to": str(self.override_path),
        }, source=CONFIG_SOURCE)
        return applied

    def _check_keys(self, settings: Settings, keys: list[str]) -> None:
        live = _concrete_live_keys(settings)
        # A section is not a key, unless it is live as a whole (a channel's ``chat``).
        unknown = [key for key in keys if _lookup(settings, key) is _MISSING
                   or (isinstance(_lookup(settings, key), (BaseModel, dict)) and key not in live)]
        if unknown:
            similar = sorted({match for key in unknown
                              for match in difflib.get_close_matches(key, live, 3, 0.6)})
            raise ConfigError(
                f"unknown configuration key(s): {', '.join(unknown)}"
                + (f"; did you mean {', '.join(similar)}?" if similar else ""),
                code="unknown_config_key",
                hint="Name a leaf key in dotted form; GET /config/live-keys lists the keys that "
                "can change at run time. Nothing was changed.",
                details={"keys": unknown, "similar": similar, "live_keys": live},
            )
        restart = [key for key in keys if live_pattern(key) is None]
        if restart:
            raise ConfigError(
                f"{', '.join(restart)} cannot change at run time",
                code="config_restart_required",
                hint="Edit the config file and restart the daemon; GET /config/live-keys lists "
                "the keys that can change live. Nothing was changed.",
                details={"keys": restart},
            )
        pinned = {key: var for key in keys if (var := self._pinned_by(key)) is not None}
        if pinned:
            raise ConfigError(
                "pinned by the environment: "
                + ", ".join(f"{key} (set by {var})" for key, var in pinned.items()),
                code="config_key_pinned",
                hint="An environment variable outranks live changes, so this change would be "
                "undone at the next restart: change or unset the variable and restart. Nothing "
                "was changed.",
                details={"pinned": pinned},
            )

    def _pinned_by(self, key: str) -> str | None:
        """The ``AMAN_<SECTION>__<KEY>`` variable setting ``key`` or a section above it."""
        for name in self._environ:
            if not name.startswith(_ENV_PREFIX) or _ENV_NESTING not in name:
                continue
            dotted = name[len(_ENV_PREFIX):].lower().replace(_ENV_NESTING, ".")
            if key == dotted or key.startswith(dotted + "."):
                return name
        return None

    async def unset(self, keys: Sequence[str], *, operator: str,
                    request_id: str | None = None) -> ConfigApplied:
        """Drop live changes: each key goes back to what the file, environment and flags say,
        at once and after restarts (its entry leaves the override file). All or nothing."""
        if not keys or self._reread is None:
            raise ConfigError("no keys given", code="validation_error",
                              hint='Send {"keys": ["event_bus.max_queue_size"]}.')
        async with self._lock:
            current = self._settings()
            stored = await asyncio.to_thread(read_override, self.override_path)
            absent = sorted(set(keys) - set(stored))
            if absent:
                raise ConfigError(
                    f"not set live: {', '.join(absent)} (the override file holds "
                    f"{', '.join(sorted(stored)) or 'nothing'})", code="config_key_not_set",
                    hint="Only keys changed with POST /config/set can be unset.")
            remaining = {key: value for key, value in stored.items() if key not in keys}
            await asyncio.to_thread(write_override, self.override_path, remaining)
            try:
                baseline = await asyncio.to_thread(self._reread)
                values = {key: _plain(_lookup(baseline, key)) for key in keys}
                new = _validated(current, values)
                await self._apply(current, new, list(keys), remaining)
            except BaseException:
                await asyncio.to_thread(write_override, self.override_path, stored)
                raise
            self._swap(new)
            applied = ConfigApplied(
                tuple(ConfigChange(key, _plain(_lookup(current, key)), values[key],
                                   is_secret(key, _lookup(current, key))) for key in keys),
                self.override_path)
        log.info("live configuration unset by %s: %s", operator, applied.redacted())
        await self._record(applied, operator, request_id, action="config.unset")
        self._bus.emit(CONFIG_CHANGED, {
            "changed_fields": list(keys), "changes": applied.redacted(), "operator": operator,
            "unset": True, "persisted_to": str(self.override_path)}, source=CONFIG_SOURCE)
        return applied

    async def _apply(self, current: Settings, new: Settings, keys: list[str],
                     stored: dict[str, Any]) -> None:
        """Run the appliers, then persist; on any failure roll every touched applier back."""
        groups: dict[int, tuple[Applier, list[str]]] = {}
        for key in keys:
            applier = self._appliers[str(live_pattern(key))]
            if applier is not None:
                groups.setdefault(id(applier), (applier, []))[1].append(key)
        touched: list[tuple[Applier, list[str]]] = []
        try:
            for applier, group in groups.values():
                touched.append((applier, group))
                applier(new, group)
            await asyncio.to_thread(write_override, self.override_path, stored)
        except Exception as exc:
            for applier, group in reversed(touched):
                try:
                    applier(current, group)
                except Exception:
                    log.exception("rolling back %s failed", ", ".join(group))
            if isinstance(exc, AmanError):
                raise ConflictError(f"{exc.message}; every change was rolled back",
                                    code="config_apply_failed", hint=exc.hint) from None
            log.exception("applying %s failed", ", ".join(keys))
            raise InternalError(
                f"applying {', '.join(keys)} failed ({type(exc).__name__}: {exc}); "
                "every change was rolled back", code="config_apply_failed") from None

    async def _record(self, applied: ConfigApplied, operator: str, request_id: str | None,
                      action: str = "config.set") -> None:
        try:
            await self._audit.record(action, operator=operator, target="config",
                                     detail={"changes": applied.redacted(),
                                             "persisted_to": str(applied.override_path)},
                                     request_id=request_id)
        except AmanError:  # the change is in force and persisted; losing the record is logged
            log.exception("could not audit config.set")


def _validated(current: Settings, changes: Mapping[str, Any]) -> Settings:
    """The whole new settings, or ``ConfigError`` naming each key, value and rule."""
    data = current.model_dump()
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        fields = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"])
            secret = is_secret(key, _lookup(current, key)) or is_secret(key, changes.get(key))
            fields.append({"key": key,
                           "value": REDACTED if secret else _plain(error.get("input")),
                           "rule": str(error["msg"]).removeprefix("Value error, ")})
        raise ConfigError(
            "invalid value(s): "
            + "; ".join(f"{f['key']} = {f['value']!r}: {f['rule']}" for f in fields),
            code="invalid_config_value",
            hint="Send a value the named rule allows (docs/configuration.md). Nothing was changed.",
            details={"fields": fields},
        ) from None


def _lookup(settings: Settings, key: str) -> Any:
    """The value at dotted ``key`` (a model field or a mapping entry), or ``_MISSING``."""
    node: Any = settings
    for part in key.split("."):
        if isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _concrete_live_keys(settings: Settings) -> list[str]:
    """``LIVE_KEYS`` with ``channels.*.*`` expanded to the configured instances."""
    keys: list[str] = []
    for pattern in LIVE_KEYS:
        if pattern.startswith("mcp.servers.*"):
            rest = pattern.removeprefix("mcp.servers.*")
            keys.extend(f"mcp.servers.{name}{rest}" for name in sorted(settings.mcp.servers))
            continue
        if not pattern.startswith("channels."):
            keys.append(pattern)
            continue
        field = pattern.rsplit(".", 1)[1]
        keys.extend(f"channels.{platform}.{instance}.{field}"
                    for platform, instances in sorted(settings.channels.items())
                    for instance in sorted(instances))
    return sorted(keys)


def _plain(value: Any) -> Any:
    """A settings value as plain JSON/YAML data (the secret's text included)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):  # a map set as a whole (mcp.servers)
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, BaseModel):  # a section that is live as a whole
        return {name: _plain(item) for name, item in value}
    return value


def _shown(key: str, value: Any) -> Any:
    return REDACTED if is_secret(key, value) else masked(_plain(value))
