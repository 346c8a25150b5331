"""Prometheus metrics of the exchange (`GET /metrics`).

Module-level collectors in prometheus_client's default registry. With several uvicorn
workers, `serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory before the workers
start; each worker then writes its samples there and `/metrics` sums every worker's, so
a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "xcircle_exchange_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "xcircle_exchange_sync_seconds",
    "Latency of push and pull requests, in seconds.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OPS_STORED = Counter("xcircle_exchange_ops_stored", "Op envelopes appended to circle logs.")
RATE_LIMITED = Counter(
    "xcircle_exchange_rate_limited",
    "Requests refused by a rate limit or quota, by limit.",
    ["limit"],
)

WAITING = Gauge(
    "xcircle_exchange_waiting",
    "Live-sync waits (POST /v1/wait) held open now.",
    multiprocess_mode="livesum",
)

TIMED_ROUTES = {"/v1/circles/{circle_id}/ops": "push", "/v1/pull": "pull"}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request (`route` is the template, never the raw path)."""
    REQUESTS.labels(method, route, str(status)).inc()
    timed = TIMED_ROUTES.get(route)
    if timed is not None:
        LATENCY.labels(timed).observe(seconds)


def refused(limit: str) -> None:
    """Count one request refused by the limit named `limit`."""
    RATE_LIMITED.labels(limit).inc()


def stored(n: int) -> None:
    """Count `n` newly stored ops."""
    if n:
        OPS_STORED.inc(n)


def render() -> tuple[bytes, str]:
    """The exposition text and its content type: every worker's samples when multiprocess."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
