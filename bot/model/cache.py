"""Response cache for deterministic model requests, in Redis so every process shares it.

A cache must never break a request: Redis errors are logged and treated as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import redis

log = logging.getLogger(__name__)


class ResponseCache:
    PREFIX = "llmcache:"

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds

    @staticmethod
    def key(**request: Any) -> str:
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        return ResponseCache.PREFIX + hashlib.sha256(canonical.encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = self.client.get(key)
        except redis.RedisError as error:
            log.warning("response cache unavailable (%s); calling the model", type(error).__name__)
            return None
        return json.loads(raw) if raw else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        if self.ttl_seconds <= 0:
            return
        try:
            self.client.set(key, json.dumps(value), ex=self.ttl_seconds)
        except redis.RedisError as error:
            log.warning("response cache unavailable (%s); answer not cached", type(error).__name__)
