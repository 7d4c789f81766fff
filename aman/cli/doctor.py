"""``aman doctor``: check the install and the running daemon; each problem comes with its fix.

Checks on this machine (config, permissions, channels' secrets, the local model, disk space) read
the config and the file system; checks of the daemon ask its API. With the daemon stopped, the
database's integrity is checked on the file itself. Exit 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import importlib.util
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from aman.cli.client import ApiClient, ApiError, CliError
from aman.cli.connect import Options, common_options, options
from aman.cli.output import emit, style

if TYPE_CHECKING:
    from aman.config.settings import Settings

#: Below this much free space under the runtime dir, writes (events, chat) may start failing.
MIN_FREE_BYTES = 512 * 1024 * 1024
#: More clock difference than this makes timestamps and cron times confusing.
MAX_SKEW_SEC = 5.0
_PRIVATE_FILE, _PRIVATE_DIR = 0o600, 0o700


@dataclass
class Check:
    """One check's outcome: ``ok`` True, False (failed) or None (skipped), and the fix."""

    name: str
    ok: bool | None
    detail: str
    fix: str | None = None


def register(cli: click.Group) -> None:
    """Add ``doctor``."""
    cli.add_command(doctor)


@click.command()
@click.option("--fix", "apply_fix", is_flag=True,
              help="Make the runtime dir and secret-holding config files private (700/600).")
@common_options
def doctor(apply_fix: bool) -> None:
    """Check config, permissions, the daemon, LLM providers, channels, storage and the clock."""
    opts = options()
    checks: list[Check] = []
    settings = _config(opts, checks)
    if settings is not None:
        checks += _permissions(settings, opts, apply_fix)
        checks.append(_bind(settings))
        checks += _channels(settings)
        checks += _local_models(settings)
        checks.append(_disk(settings.runtime.dir))
    try:
        api = opts.client()
    except CliError:  # the config does not load and no --url / AMAN_URL: already reported
        checks.append(Check("daemon", None, "skipped: without a valid config the daemon's "
                                            "address is unknown (give --url)"))
        api = None
    if api is not None:
        with api:
            checks += _daemon_checks(api, settings)
    failed = [c for c in checks if c.ok is False]
    emit({"ok": not failed, "checks": [asdict(c) for c in checks]}, lambda _: _show(checks))
    if failed:
        click.get_current_context().exit(1)


def _show(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = {True: style("ok  ", fg="green"), False: style("FAIL", fg="red", bold=True),
                None: style("skip", fg="yellow")}[check.ok]
        click.echo(f"{mark}  {check.name.ljust(width)}  {check.detail}")
        if check.fix and check.ok is False:
            click.echo(f"      {' ' * width}  fix: {check.fix}")
    failed = sum(c.ok is False for c in checks)
    click.echo(f"{failed} problem(s) found" if failed else "all checks passed")


# --- this machine ------------------------------------------------------------------------------

def _config(opts: Options, checks: list[Check]) -> Settings | None:
    from aman.config.loader import config_file

    try:
        settings = opts.settings()
    except CliError as exc:
        checks.append(Check("config", False, exc.message,
                            "fix the key the message names, then `aman config validate`"))
        return None
    path = config_file(opts.config)
    checks.append(Check("config", True, f"valid ({path or 'built-in defaults'})"))
    return settings


def _permissions(settings: Settings, opts: Options, apply_fix: bool) -> list[Check]:
    from aman.config.loader import config_file
    from aman.config.override import OVERRIDE_FILE_NAME
    from aman.config.secrets import literal_secrets

    runtime_dir = settings.runtime.dir
    targets: list[tuple[Path, int, str]] = []
    if runtime_dir.is_dir():
        targets.append((runtime_dir, _PRIVATE_DIR, "holds the database (conversations, audit)"))
    for path in (config_file(opts.config), runtime_dir / OVERRIDE_FILE_NAME):
        if path is not None and path.is_file():
            secrets = literal_secrets(path)
            if secrets:
                targets.append((path, _PRIVATE_FILE, f"holds secrets ({', '.join(secrets[:3])})"))
    found = []
    for path, wanted, why in targets:
        mode = stat.S_IMODE(path.stat().st_mode)
        if not mode & 0o077:
            found.append(Check("permissions", True, f"{path} is private ({oct(mode)[2:]})"))
            continue
        if apply_fix:
            path.chmod(wanted)
            found.append(Check("permissions", True,
                               f"{path} was {oct(mode)[2:]}; now {oct(wanted)[2:]} (fixed)"))
            continue
        found.append(Check("permissions", False,
                           f"{path} is readable by others ({oct(mode)[2:]}) and {why}",
                           f"chmod {oct(wanted)[2:]} {path} (or aman doctor --fix)"))
    return found


def _bind(settings: Settings) -> Check:
    from aman.config.settings import is_loopback, split_bind

    host, _port = split_bind(settings.http.bind)
    if is_loopback(host):
        return Check("bind", True, f"{settings.http.bind} is reachable from this machine only")
    if settings.token_configured:
        return Check("bind", True, f"{settings.http.bind} is open to the network, with a token")
    return Check("bind", False, f"{settings.http.bind} is open to the network without a token",
                 "set http.token (http.token: ${AMAN_TOKEN}) or bind 127.0.0.1")


def _channels(settings: Settings) -> list[Check]:
    from aman.config.reach import channel_problem

    found = []
    for platform, instances in sorted(settings.channels.items()):
        for instance, config in sorted(instances.items()):
            where = f"channels.{platform}.{instance}"
            if not config.enabled:
                found.append(Check("channel", None, f"{where} is disabled"))
            elif not config.secret.get_secret_value():
                found.append(Check("channel", False, f"{where}.secret is empty: every webhook "
                                   "call is refused", f"set {where}.secret: ${{...}}"))
            elif problem := channel_problem(platform, instance, config):
                found.append(Check("channel", False, problem, f"set it in the config: {where}"))
            else:
                found.append(Check("channel", True, f"{where} has its secrets"))
    return found


def _local_models(settings: Settings) -> list[Check]:
    from aman.llm.local import INSTALL_HINT, default_model_path

    found = []
    for name, provider in sorted(settings.llm.providers.items()):
        if provider.kind != "local":
            continue
        fix = INSTALL_HINT.format(name=name)
        path = provider.model_path or default_model_path()
        if importlib.util.find_spec("llama_cpp") is None:
            found.append(Check("local model", False, f"{name}: llama-cpp-python is missing", fix))
        elif path is None or not path.is_file():
            found.append(Check("local model", False, f"{name}: no model file ({path})", fix))
        else:
            found.append(Check("local model", True, f"{name}: {path.name} present"))
    return found


def _disk(runtime_dir: Path) -> Check:
    where = runtime_dir if runtime_dir.exists() else runtime_dir.parent
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    text = f"{free / 2**30:.1f} GiB free under {where}"
    if free < MIN_FREE_BYTES:
        return Check("disk", False, text, f"free space on that disk (at least "
                                          f"{MIN_FREE_BYTES // 2**20} MiB)")
    return Check("disk", True, text)


# --- the daemon --------------------------------------------------------------------------------

def _daemon_checks(api: ApiClient, settings: Settings | None) -> list[Check]:
    try:
        response = api.request("GET", "/runtime/status")
    except CliError as exc:
        found = [Check("daemon", False, exc.message, exc.hint)]
        if settings is not None and settings.database_path.is_file():
            found.append(_local_integrity(settings))  # stopped: the file is ours to read
        return found + [Check(n, None, "skipped: the daemon is not reachable")
                        for n in ("llm", "mcp", "audit", "clock")]
    status = response.json()
    found = [_status_check(status), _clock(response.headers.get("date"))]
    if not status["ready"]:
        return found
    runners: list[Callable[[], list[Check]]] = [
        lambda: _llm(api, settings), lambda: _mcp(api), lambda: _storage(api)]
    for run in runners:
        try:
            found += run()
        except ApiError as exc:
            found.append(Check("daemon", False, exc.message, exc.hint))
    return found


def _status_check(status: dict[str, Any]) -> Check:
    if status["ready"]:
        return Check("daemon", True, f"ready (phase {status['phase']}, version "
                                     f"{status['version']})")
    failure = status.get("failure")
    if failure:
        return Check("daemon", False, f"boot failed at phase {failure['phase']} step "
                                      f"{failure['step']}: {failure['error']}",
                     "fix the cause, then `curl -X POST .../agent/start` or restart it")
    return Check("daemon", False, f"not ready: phase {status['phase']} ({status['state']})",
                 "wait for it to finish booting, or read `aman logs`")


def _clock(date_header: str | None) -> Check:
    if not date_header:
        return Check("clock", None, "the daemon sent no Date header")
    skew = time.time() - parsedate_to_datetime(date_header).timestamp()
    if abs(skew) > MAX_SKEW_SEC + 1:  # the header has whole seconds
        return Check("clock", False, f"this machine and the daemon differ by {skew:+.0f}s",
                     "sync both clocks (NTP / timedatectl set-ntp true)")
    return Check("clock", True, "in step with the daemon")


def _llm(api: ApiClient, settings: Settings | None) -> list[Check]:
    names = sorted(settings.llm.providers) if settings is not None else []
    targets: list[str | None] = list(names) or [None]
    found = []
    for name in targets:
        params = {"provider": name} if name else {}
        response = api.request("GET", "/health/llm", params=params, allow=(503, 404))
        body = response.json()
        if response.status_code == 200:
            found.append(Check("llm", True, f"{body['provider']} ({body['kind']}) answered its "
                                            f"probe in {body.get('last_probe_latency_ms')} ms"))
        elif response.status_code == 404 and name:
            found.append(Check("llm", None, f"{name}: this daemon cannot probe it by name"))
        else:
            error = body.get("error", {})
            found.append(Check("llm", False, error.get("message", "no answer"), error.get("hint")))
    return found


def _mcp(api: ApiClient) -> list[Check]:
    response = api.request("GET", "/mcp/servers", allow=(404,))
    if response.status_code == 404:
        return [Check("mcp", None, "skipped: this daemon has no /mcp/servers route")]
    body = response.json()
    servers = body.get("items", body) if isinstance(body, dict) else body
    if not servers:
        return [Check("mcp", True, "no MCP servers configured")]
    found = []
    for server in servers:
        state = str(server.get("state") or "unknown")
        name = server.get("name")
        if state == "disabled":
            found.append(Check("mcp", None, f"{name}: disabled"))
            continue
        bad = state == "failed"
        error = server.get("last_error")
        found.append(Check("mcp", not bad, f"{name}: {state}" + (f" ({error})" if bad and error
                                                                  else ""),
                           "fix the server's command or URL under mcp.servers; its stderr is in "
                           "`aman logs`" if bad else None))
    return found


def _storage(api: ApiClient) -> list[Check]:
    integrity = api.get("/runtime/integrity")
    found = [Check("database", None, "skipped: integrity_check is for the SQLite store")
             if integrity.get("checked") is False else
             Check("database", True, "integrity_check ok") if integrity["ok"] else
             Check("database", False, f"integrity_check: {'; '.join(integrity['problems'][:3])}",
                   "stop the daemon, `aman backup`, then restore a known good backup")]
    audit = api.get("/audit-log/verify")
    found.append(Check("audit", True, f"hash chain verifies ({audit.get('checked')} records)")
                 if audit.get("ok") else
                 Check("audit", False, f"hash chain broken: {audit}",
                       "the audit log was changed outside aman; keep a copy for inquiry"))
    return found


def _local_integrity(settings: Settings) -> Check:
    from aman.store.snapshot import integrity_problems

    problems = integrity_problems(settings.database_path)
    if problems:
        return Check("database", False, f"integrity_check: {'; '.join(problems[:3])}",
                     "restore a known good backup with `aman restore`")
    return Check("database", True, f"integrity_check ok ({settings.database_path})")

