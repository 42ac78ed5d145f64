"""Prometheus metrics, aggregated over every gunicorn worker process (prometheus_client's multiprocess mode).

`serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh folder before the workers start; each worker writes its
samples there and `GET /metrics` on any worker reports the sum. Without that folder (CLI, tests of the core),
metrics stay in the process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

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

from bot.model.metering import Meter


class _Metrics:
    """The bot's metrics, created on first use: prometheus_client picks in-process or multiprocess storage when a
    metric is created, and `serve` sets `PROMETHEUS_MULTIPROC_DIR` after the command line has been imported."""

    def __init__(self) -> None:
        self.requests = Counter("bot_requests_total", "User requests by pattern and status", ["pattern", "status"])
        self.errors = Counter("bot_errors_total", "Failed requests by pattern and error kind", ["pattern", "kind"])
        self.latency = Histogram(
            "bot_request_latency_seconds",
            "Total latency of a request, ack to final answer",
            ["pattern"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
        )
        self.first_token = Histogram(
            "bot_time_to_first_token_seconds",
            "Time from request to the first model output",
            ["pattern"],
            buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
        )
        self.tokens = Counter("bot_tokens_total", "Model tokens by pattern and direction", ["pattern", "direction"])
        self.cost = Counter("bot_cost_usd_total", "Model spend in USD", ["pattern"])
        self.cache_hits = Counter(
            "bot_cache_hits_total", "Requests answered entirely from the response cache", ["pattern"]
        )


_metrics: _Metrics | None = None
_metrics_lock = threading.Lock()


def _get() -> _Metrics:
    global _metrics
    with _metrics_lock:
        if _metrics is None:
            _metrics = _Metrics()
        return _metrics


def observe(meter: Meter, status: str, error_kind: str | None) -> None:
    metrics = _get()
    pattern = meter.pattern or "unknown"
    metrics.requests.labels(pattern, status).inc()
    if status == "error":
        metrics.errors.labels(pattern, error_kind or "unknown").inc()
    metrics.latency.labels(pattern).observe(meter.elapsed_ms() / 1000)
    if meter.ttft_ms is not None:
        metrics.first_token.labels(pattern).observe(meter.ttft_ms / 1000)
    metrics.tokens.labels(pattern, "prompt").inc(meter.prompt_tokens)
    metrics.tokens.labels(pattern, "completion").inc(meter.completion_tokens)
    metrics.cost.labels(pattern).inc(meter.cost_usd)
    if meter.cache_hit:
        metrics.cache_hits.labels(pattern).inc()


class QueueDepth(Collector):
    """Jobs waiting in each RQ queue, read from Redis at scrape time."""

    def __init__(self, redis_client) -> None:  # type: ignore[no-untyped-def]
        self.redis = redis_client

    def collect(self) -> Iterable[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("bot_queue_depth", "Jobs waiting per queue", labels=["queue"])
        try:
            for key in self.redis.smembers("rq:queues"):
                name = key.decode().removeprefix("rq:queue:")
                gauge.add_metric([name], self.redis.llen(key))
        except Exception:  # a scrape must not fail because Redis blinked
            pass
        yield gauge


def render(redis_client=None) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    """The Prometheus text exposition of every process's metrics (plus queue depth)."""
    _get()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    body = generate_latest(registry)
    if redis_client is not None:
        queues = CollectorRegistry()
        queues.register(QueueDepth(redis_client))
        body += generate_latest(queues)
    return body, CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
