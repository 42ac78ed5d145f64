"""Slack delivers an event again when an ack is late (same `event_id`); reply to it once across all processes."""

from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)


class EventDeduper:
    """`first_delivery(key)` is True exactly once per key within the TTL.

    With Redis the check is an atomic `SET NX EX`, shared by every bot process. Without Redis it falls back to
    this process's memory, which is only correct for a single process (logged at start).
    """

    def __init__(self, client: redis.Redis | None, ttl_seconds: int = 3600) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        if client is None:
            log.warning("REDIS_URL is not set: Slack retries are de-duplicated per process only")

    def first_delivery(self, key: str) -> bool:
        if self.client is not None:
            try:
                return bool(self.client.set(f"slack-event:{key}", "1", nx=True, ex=self.ttl_seconds))
            except redis.RedisError as error:
                log.error("dedupe store unavailable (%s); using process memory", type(error).__name__)
        return self._first_in_memory(key)

    def _first_in_memory(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 100_000:
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.ttl_seconds}
            if key in self._seen and now - self._seen[key] < self.ttl_seconds:
                return False
            self._seen[key] = now
            return True
