"""``aman cron ls|runs|run|enable|disable``: scheduled jobs and what each run did."""

from __future__ import annotations

import click

from aman.cli.connect import common_options, options
from aman.cli.output import emit, table


def register(cli: click.Group) -> None:
    """Add the ``cron`` group."""
    cli.add_command(cron)


@click.group()
def cron() -> None:
    """Cron jobs."""


@cron.command("ls")
@common_options
def ls() -> None:
    """List jobs with their next run."""
    with options().client() as api:
        body = api.get("/cron")
    emit(body, lambda b: table(b["items"], ["id", "expression", "timezone", "enabled",
                                            "event_type", "next_run_at"], empty="no cron jobs"))


@cron.command()
@click.argument("job_id")
@click.option("--limit", type=int, default=20, show_default=True)
@common_options
def runs(job_id: str, limit: int) -> None:
    """List a job's recorded runs, newest first."""
    with options().client() as api:
        body = api.get(f"/cron/{job_id}/runs", params={"limit": limit})
    emit(body, lambda b: table(b["items"], ["scheduled_at", "fired_at", "outcome", "event_id",
                                            "note"], empty="no runs yet"))


@cron.command("run")
@click.argument("job_id")
@common_options
def run_now(job_id: str) -> None:
    """Fire a job's event now, outside its schedule."""
    with options().client() as api:
        body = api.post(f"/cron/{job_id}/run")
    emit(body, lambda b: click.echo(f"{job_id} fired: event {b['run']['event_id']} "
                                    f"({b['run']['outcome']})"))


def _switch(job_id: str, enabled: bool) -> None:
    with options().client() as api:
        body = api.post(f"/cron/{job_id}/update", {"enabled": enabled})
    emit(body, lambda _: click.echo(f"{'enabled' if enabled else 'disabled'} {job_id}"))


@cron.command()
@click.argument("job_id")
@common_options
def enable(job_id: str) -> None:
    """Enable a job."""
    _switch(job_id, True)


@cron.command()
@click.argument("job_id")
@common_options
def disable(job_id: str) -> None:
    """Disable a job."""
    _switch(job_id, False)
