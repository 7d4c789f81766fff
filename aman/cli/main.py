"""The ``aman`` command: one click group, one module per verb group, no business logic here.

Exit codes: 0 ok, 1 a failed action (the daemon's message, then its hint), 2 bad usage or an
invalid config, 3 no daemon running where the command looked for one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from aman import __version__
from aman.cli import (
    approvals,
    audit,
    backup,
    chat,
    config,
    cron,
    dlq,
    doctor,
    events,
    keys,
    logs,
    mcp,
    migrate_store,
    plugins,
    serve,
    sessions,
    skills,
    workflows,
)
from aman.cli.client import CliError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NO_DAEMON = 3


class _Group(click.Group):
    """Lists commands in the order they were added and turns ``CliError`` into its lines."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            for line in exc.lines():
                click.echo(line, err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aman", message="%(prog)s %(version)s")
def cli() -> None:
    """aman personal agent runtime: run the daemon, chat with it and operate it."""


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def completion(shell: str) -> None:
    """Print the shell completion script (eval "$(aman completion bash)")."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    if completer is None:  # pragma: no cover - click ships both
        raise CliError(f"no completion for {shell}")
    click.echo(completer(cli, {}, "aman", "_AMAN_COMPLETE").source())


for _module in (serve, chat, sessions, approvals, events, dlq, skills, cron, workflows, plugins,
                config, keys, logs, audit, doctor, backup, migrate_store, mcp):
    _module.register(cli)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aman`` console script; returns the exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="aman",
                 standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_FAILURE)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
