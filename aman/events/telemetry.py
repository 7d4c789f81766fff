"""The bus's figures as Prometheus families and as the JSON snapshot for /debug/metrics and SSE."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from aman.events.bus import EventBus
from aman.events.dlq import DeadLetterService
from aman.metrics import counter, gauge


def snapshot(bus: EventBus, dlq: DeadLetterService) -> dict[str, Any]:
    """Queue depth by priority, throughput, drops, duplicates, DLQ depth and backpressure."""
    stats = bus.stats
    return {
        "queue_depth": dict(stats.depth),
        "queue_capacity": bus.max_queue_size,
        "throughput": stats.delivered,
        "published": stats.published,
        "discarded": stats.discarded,
        "duplicates": stats.duplicates,
        "expired": stats.expired,
        "rate_limited": stats.rate_limited,
        "refused": stats.refused,
        "handler_failures": stats.handler_failures,
        "dead_lettered": stats.dead_lettered,
        "retry_queue_depth": stats.retries_pending,
        "inflight": stats.inflight,
        "subscription_count": len(bus.subscriber_names),
        "dlq_depth": dlq.depth_cache,
        "backpressure_level": bus.level.value,
    }


def families(bus: EventBus, dlq: DeadLetterService) -> Iterable[Metric]:
    """Prometheus families computed at scrape time."""
    stats = bus.stats
    depth = GaugeMetricFamily("aman_event_bus_queue_depth", "Queued events by priority.",
                              labels=["priority"])
    for priority, value in stats.depth.items():
        depth.add_metric([priority], value)
    yield depth
    yield gauge("aman_backpressure_level", "Backpressure level, 0 normal .. 1 critical.",
                bus.level.gauge)
    yield gauge("aman_backpressure_level_info", "Current backpressure level by name.", 1,
                {"level": bus.level.value})
    yield gauge("aman_dlq_depth", "DLQ entries waiting for a decision.", dlq.depth_cache)
    yield gauge("aman_event_retry_queue_depth", "Deliveries waiting to be retried.",
                stats.retries_pending)
    yield gauge("aman_event_subscriptions", "Bus subscribers.", len(bus.subscriber_names))
    yield counter("aman_events_published", "Events accepted.", stats.published)
    yield counter("aman_event_throughput", "Events dispatched.", stats.delivered)
    yield counter("aman_events_discarded", "At-most-once events dropped under backpressure.",
                  stats.discarded)
    yield counter("aman_events_duplicate", "Pushes answered as duplicates.", stats.duplicates)
    yield counter("aman_events_expired", "Events not delivered because their ttl passed.",
                  stats.expired)
    yield counter("aman_events_rate_limited", "Pushes refused by the per-source rate limit.",
                  stats.rate_limited)
    yield counter("aman_events_refused", "Pushes refused by backpressure.", stats.refused)
    yield counter("aman_handler_failures", "Failed handler calls.", stats.handler_failures)
    yield counter("aman_events_dead_lettered", "Deliveries parked in the DLQ.", stats.dead_lettered)
