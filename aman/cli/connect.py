"""Finding the daemon: ``--url`` / ``AMAN_URL``, else the config's ``http.bind``; the token too.

The config is read with the same ``--config`` / ``--home`` rules as ``aman run``, so a command
run next to the daemon's config reaches it with no flags. Every command gets the same options
through ``common_options``; they land in ``Options`` on the click context.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from aman.cli.client import ApiClient, CliError

if TYPE_CHECKING:
    from aman.config.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "aman.cli.options"
#: Hosts a daemon listens on for every interface; the CLI reaches those on loopback.
_ANY_HOST = ("0.0.0.0", "::", "")


class UsageError(CliError):
    """Bad flags or an invalid config: exit 2, as ``aman run`` does."""

    exit_code = 2


@dataclass
class Options:
    """The connection and output options shared by every command."""

    url: str | None = None
    token: str | None = None
    bind: str | None = None
    config: Path | None = None
    home: Path | None = None
    operator: str | None = None
    json: bool = False
    yes: bool = False
    _settings: Settings | None = None

    def settings(self) -> Settings:
        """The validated settings (``--config`` / ``--home`` / ``--bind``), loaded once."""
        if self._settings is None:
            from aman.config.loader import load_settings  # pydantic: only when a config is read
            from aman.errors import ConfigError

            overrides: dict[str, Any] = {
                "http.bind": self.bind,
                "runtime.dir": str(self.home.expanduser().resolve()) if self.home else None,
            }
            try:
                self._settings = load_settings(self.config, overrides=overrides)
            except ConfigError as exc:
                raise UsageError(str(exc), "fix the config (`aman config validate`), or give "
                                           "--url and --token") from None
        return self._settings

    def base_url(self) -> str:
        """Where the daemon answers: the flag, the environment, else ``http.bind``."""
        url = self.url or os.environ.get("AMAN_URL")
        if url:
            return url.rstrip("/")
        return url_of_bind(self.settings().http.bind)

    def api_token(self) -> str | None:
        """The flag, ``AMAN_TOKEN``, else the config's ``http.token`` (none when unreadable)."""
        token = self.token or os.environ.get("AMAN_TOKEN")
        if token:
            return token
        if self.url or os.environ.get("AMAN_URL"):
            try:
                return self.settings().http.token.get_secret_value() or None
            except UsageError:
                return None  # a URL was given: the config is optional
        return self.settings().http.token.get_secret_value() or None

    def client(self) -> ApiClient:
        """An API client for the daemon these options point at."""
        return ApiClient(self.base_url(), token=self.api_token(),
                         operator=self.operator or os.environ.get("AMAN_OPERATOR"))


def url_of_bind(bind: str) -> str:
    """``HOST:PORT`` as an URL this machine can reach (``0.0.0.0`` becomes loopback)."""
    from aman.config.settings import split_bind

    host, port = split_bind(bind)
    if host in _ANY_HOST:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def options() -> Options:
    """The options of the command being run."""
    ctx = click.get_current_context()
    found = ctx.meta.get(_KEY)
    if found is None:
        found = ctx.meta[_KEY] = Options()
    assert isinstance(found, Options)
    return found


def _store(field: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is not None and value is not False:
            setattr(options(), field, value)

    return callback


def _option(*decls: str, field: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*decls, expose_value=False, is_eager=True, callback=_store(field),
                        **kwargs)


def common_options(func: F) -> F:
    """Add ``--url --token --config --home --bind --operator --json`` to a command."""
    for decorator in (
        _option("--json", "json", field="json", is_flag=True,
                help="Print the API's JSON (for scripts)."),
        _option("--operator", field="operator", metavar="NAME",
                help="Your name in the audit log (or AMAN_OPERATOR)."),
        _option("--home", field="home", type=click.Path(path_type=Path),
                help="Runtime dir (runtime.dir, or AMAN_HOME)."),
        _option("--config", field="config", type=click.Path(path_type=Path),
                help="YAML config file (default: AMAN_CONFIG or config/aman.yaml)."),
        _option("--bind", field="bind", metavar="HOST:PORT",
                help="Reach the daemon at this http.bind."),
        _option("--token", field="token", help="API token (or AMAN_TOKEN; default http.token)."),
        _option("--url", field="url", help="Daemon URL (or AMAN_URL; default from http.bind)."),
    ):
        func = decorator(func)
    return func


def yes_option(func: F) -> F:
    """``--yes``: run a destructive command without asking."""
    return _option("--yes", "-y", field="yes", is_flag=True,
                   help="Do not ask; needed when not on a terminal.")(func)
