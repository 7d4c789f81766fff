"""BLUEPRINTS: the one ordered list of core route groups that ``create_app`` registers."""

from __future__ import annotations

from quart import Blueprint

from aman.http.routes import (
    agents,
    capabilities,
    channels,
    chat,
    config,
    cron,
    dlq,
    events,
    explore,
    health,
    idle,
    keys,
    notifications,
    observability,
    openai_compat,
    plugins,
    runtime,
    skills,
    soul,
    sources,
    stream,
    tool_auth,
    tools,
    workflows,
)

BLUEPRINTS: tuple[Blueprint, ...] = (
    health.bp,
    runtime.bp,
    config.bp,
    keys.bp,
    observability.bp,
    openai_compat.bp,
    events.bp,
    stream.bp,
    dlq.bp,
    notifications.bp,
    sources.bp,
    channels.bp,
    plugins.bp,
    skills.bp,
    soul.bp,
    agents.bp,
    chat.bp,
    idle.bp,
    explore.bp,
    capabilities.bp,
    tool_auth.bp,
    tools.bp,
    cron.bp,
    workflows.bp,
)
