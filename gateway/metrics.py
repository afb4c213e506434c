"""Prometheus metrics, served at /metrics (reapi/ops.py).

Counted on the request path (a few microseconds each): every /v1 response by route and
status code, and for each admitted request its outcome by endpoint, model and provider, its
duration and time to first byte, failovers and the credits charged. Read at scrape time from
the database and the breakers: open holds, video jobs in flight, open breakers. Labels carry
only catalog slugs, route templates and status values: never content, keys or accounts.

With several worker processes (`reapi.serve --workers N`), PROMETHEUS_MULTIPROC_DIR names a
folder the workers share (prometheus_client's multiprocess mode): a scrape of any worker
sums them all. Without it (tests, one process) the process's own registry is served.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

RESPONSES = Counter(
    "reapi_http_responses", "Responses of the /v1 API by route and HTTP status.",
    ["route", "code"],
)  # fmt: skip
REQUESTS = Counter(
    "reapi_requests", "Admitted API requests by outcome.",
    ["endpoint", "model", "provider", "status"],
)  # fmt: skip
DURATION = Histogram(
    "reapi_request_duration_seconds", "Admitted requests, admission to settle.", ["endpoint"],
    buckets=BUCKETS,
)  # fmt: skip
TTFB = Histogram(
    "reapi_time_to_first_byte_seconds", "Upstream time to first byte.", ["endpoint"],
    buckets=BUCKETS,
)  # fmt: skip
FAILOVERS = Counter("reapi_failovers", "Routes tried after the first.", ["model"])
CHARGED = Counter("reapi_credits_charged_micros", "Micro-credits charged.", ["model"])


def observe(*, endpoint: str, model: str, provider: str, status: str, seconds: float,
            ttfb_ms: int | None, failovers: int, charged_micros: int) -> None:  # fmt: skip
    """One admitted request, once it is settled or released."""
    REQUESTS.labels(endpoint, model, provider or "none", status).inc()
    DURATION.labels(endpoint).observe(seconds)
    if ttfb_ms is not None:
        TTFB.labels(endpoint).observe(ttfb_ms / 1000)
    if failovers:
        FAILOVERS.labels(model).inc(failovers)
    if charged_micros:
        CHARGED.labels(model).inc(charged_micros)


class _StateCollector(Collector):
    """What the database and the breakers say now (read at scrape time)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db.models import Count, Sum

        from billing.models import Hold
        from gateway import health
        from gateway.models import VideoJob

        holds = Hold.objects.filter(state=Hold.State.OPEN).aggregate(
            count=Count("id"), amount=Sum("amount_micros")
        )
        gauge = GaugeMetricFamily("reapi_open_holds", "Holds not yet settled or released.")
        gauge.add_metric([], holds["count"] or 0)
        yield gauge
        gauge = GaugeMetricFamily("reapi_open_holds_micros", "Micro-credits held right now.")
        gauge.add_metric([], holds["amount"] or 0)
        yield gauge
        jobs = GaugeMetricFamily("reapi_video_jobs", "Video jobs in flight.", labels=["status"])
        counts = dict(
            VideoJob.objects.filter(status__in=("queued", "in_progress"))
            .values_list("status")
            .annotate(n=Count("id"))
        )
        for status in ("queued", "in_progress"):
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        breakers = GaugeMetricFamily(
            "reapi_route_breaker_open", "1 while a route's circuit breaker is open.",
            labels=["provider", "model"],
        )  # fmt: skip
        for provider, model, is_open in health.breaker_states():
            breakers.add_metric([provider, model], 1 if is_open else 0)
        yield breakers


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        for collector in list(REGISTRY._collector_to_names):  # this process's counters
            registry.register(collector)
    registry.register(_StateCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
