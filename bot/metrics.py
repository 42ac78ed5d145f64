"""Prometheus metrics, aggregated over every gunicorn worker process (prometheus_client's multiprocess mode).

`serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh folder before the workers start; each worker writes its
samples there and `GET /metrics` on any worker reports the sum. Without that folder (CLI, tests of the core),
metrics stay in the process.
"""

from __future__ import annotations

import os
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

REQUESTS = Counter("bot_requests_total", "User requests by pattern and status", ["pattern", "status"])
ERRORS = Counter("bot_errors_total", "Failed requests by pattern and error kind", ["pattern", "kind"])
LATENCY = Histogram(
    "bot_request_latency_seconds", "Total latency of a request, ack to final answer", ["pattern"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
FIRST_TOKEN = Histogram(
    "bot_time_to_first_token_seconds", "Time from request to the first model output", ["pattern"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
TOKENS = Counter("bot_tokens_total", "Model tokens by pattern and direction", ["pattern", "direction"])
COST = Counter("bot_cost_usd_total", "Model spend in USD", ["pattern"])
CACHE_HITS = Counter("bot_cache_hits_total", "Requests answered entirely from the response cache", ["pattern"])


def observe(meter: Meter, status: str, error_kind: str | None) -> None:
    pattern = meter.pattern or "unknown"
    REQUESTS.labels(pattern, status).inc()
    if status == "error":
        ERRORS.labels(pattern, error_kind or "unknown").inc()
    LATENCY.labels(pattern).observe(meter.elapsed_ms() / 1000)
    if meter.ttft_ms is not None:
        FIRST_TOKEN.labels(pattern).observe(meter.ttft_ms / 1000)
    TOKENS.labels(pattern, "prompt").inc(meter.prompt_tokens)
    TOKENS.labels(pattern, "completion").inc(meter.completion_tokens)
    COST.labels(pattern).inc(meter.cost_usd)
    if meter.cache_hit:
        CACHE_HITS.labels(pattern).inc()


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
