"""BLUEPRINTS: the one ordered list of core route groups that ``create_app`` registers."""

from __future__ import annotations

from quart import Blueprint

from aman.http.routes import dlq, events, health, observability, runtime

BLUEPRINTS: tuple[Blueprint, ...] = (
    health.bp,
    runtime.bp,
    observability.bp,
    events.bp,
    dlq.bp,
)
