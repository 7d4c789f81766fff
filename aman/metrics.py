"""Prometheus metrics on a registry owned by one Runtime (never the global default registry).

A global registry raises "Duplicated timeseries" as soon as a test builds a second app, so each
Runtime builds its own ``Metrics`` and everything it exposes hangs off that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

#: Buckets sized for a local daemon: most requests take well under 10 ms.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
#: LLM calls take from tens of milliseconds (first token) to minutes (long replies on a CPU).
_LLM_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The metric objects of one Runtime."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.http_requests = Counter(
            "aman_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "aman_http_request_duration_seconds",
            "HTTP request latency by route template and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.phase = Gauge("aman_boot_phase", "Current boot phase (0-5).", registry=self.registry)
        self.ready = Gauge("aman_ready", "1 when the runtime is ready.", registry=self.registry)
        self.boot_seconds = Gauge(
            "aman_boot_duration_seconds", "Duration of the last boot.", registry=self.registry
        )
        self.audit_records = Counter(
            "aman_audit_records", "Audit records written, by outcome.", ["outcome"],
            registry=self.registry,
        )
        # LLM calls: one request per attempt; result ok | error | cancelled.
        self.llm_requests = Counter(
            "aman_llm_requests", "LLM requests by provider, model and result.",
            ["provider", "model", "result"], registry=self.registry,
        )
        self.llm_duration = Histogram(
            "aman_llm_request_duration_seconds", "LLM request duration.", ["provider", "model"],
            buckets=_LLM_BUCKETS, registry=self.registry,
        )
        self.llm_ttft = Histogram(
            "aman_llm_time_to_first_token_seconds", "Time from request to first reply token.",
            ["provider", "model"], buckets=_LLM_BUCKETS, registry=self.registry,
        )
        self.llm_tokens = Counter(
            "aman_llm_tokens", "LLM tokens by provider and direction (input | output).",
            ["provider", "direction"], registry=self.registry,
        )
        self.usage_tokens = Counter(
            "aman_usage_tokens", "Model tokens by agent, purpose and direction (input | output).",
            ["agent", "purpose", "direction"], registry=self.registry)
        self.usage_cost = Counter(
            "aman_usage_cost", "Model cost by agent and purpose, from llm.providers.*.prices.",
            ["agent", "purpose"], registry=self.registry)

    def add_collector(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Expose figures computed at scrape time.

        Queue depths, levels and counters kept elsewhere.
        """
        self.registry.register(_CallbackCollector(collect))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_latency.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)

    def as_json(self) -> dict[str, Any]:
        """Every sample as JSON, for /debug/metrics."""
        out: dict[str, Any] = {}
        for family in self.registry.collect():
            samples = []
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                samples.append({"name": sample.name, "labels": sample.labels,
                                "value": sample.value})
            out[family.name] = {"type": family.type, "help": family.documentation,
                                "samples": samples}
        return out


class _CallbackCollector:
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def gauge(name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> Metric:
    """A one-sample gauge family."""
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def counter(name: str, doc: str, value: float) -> Metric:
    """A one-sample counter family (``name`` without ``_total``)."""
    return CounterMetricFamily(name, doc, value=value)
