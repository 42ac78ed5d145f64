"""A per-workspace budget of Slack API calls, shared by every stream in every bot process (Redis token bucket).

Slack limits methods per workspace (chat.update about 50 a minute). Many simultaneous answers each editing their
message would overrun that, so every edit first takes a token here. The bucket is sized so that even a strict
sliding-window limiter is never exceeded: `burst + rate * 60 <= limit per minute`, less a margin of 10%: a call
reaches Slack a little after its token is granted (a busy process, a slow connection), so calls granted just
outside a minute can arrive inside it.

Three priorities share the bucket, by how much they leave in it. Urgent calls may take the last token (a stream
pays for the edit that will replace its "Thinking…" placeholder before posting it); important calls (final text,
summaries, digests) leave one; progress updates leave half the burst.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis

log = logging.getLogger(__name__)

# Slack's published per-workspace limits, per minute (Tier 2 = 20, Tier 3 = 50, Tier 4 = 100).
SLACK_LIMITS_PER_MINUTE = {
    "chat.update": 50,
    "chat.startStream": 20,
    "chat.appendStream": 100,
    "chat.stopStream": 20,
    "assistant.threads.setStatus": 100,  # Slack's "special" limit, taken as Tier 4
}

ARRIVAL_MARGIN = 0.1  # share of each limit left unused, for the time between a grant and the call's arrival

_TAKE = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp'))
local burst, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local reserve, most = tonumber(ARGV[4]), tonumber(ARGV[5])
if tokens == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local granted = 0
if tokens >= 1 + reserve then granted = math.min(most, math.floor(tokens - reserve)); tokens = tokens - granted end
-- The stamp never moves back: a caller that read the clock before the last one (it waited for the interpreter
-- lock on the way here) must not make the next caller refill the same time twice.
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', math.max(stamp, now))
redis.call('EXPIRE', KEYS[1], 600)
if granted >= 1 then return {granted, '0'} end
return {0, tostring((1 + reserve - tokens) / rate)}
"""


@dataclass(frozen=True)
class Bucket:
    burst: float
    rate_per_second: float

    @classmethod
    def for_limit(cls, per_minute: int) -> Bucket:
        usable = per_minute * (1 - ARRIVAL_MARGIN)
        burst = max(1.0, usable * 0.2)
        return cls(burst=burst, rate_per_second=(usable - burst) / 60)


class SlackBudget:
    def __init__(self, client: redis.Redis | None, limits: dict[str, int] | None = None) -> None:
        self.client = client
        self.buckets = {m: Bucket.for_limit(n) for m, n in (limits or SLACK_LIMITS_PER_MINUTE).items()}
        self._script = client.register_script(_TAKE) if client is not None else None
        self._local: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def try_take(self, team: str, method: str, *, important: bool = False, urgent: bool = False) -> float:
        """Take one call of `method` for the workspace; returns 0 if granted, else seconds until one frees."""
        bucket = self.buckets.get(method)
        if bucket is None:
            return 0.0
        if urgent:
            reserve = 0.0
        elif important:
            reserve = min(1.0, bucket.burst - 1)  # the last token is kept for urgent calls
        else:
            reserve = bucket.burst / 2
        granted, wait = self._take(team, method, bucket, reserve, 1)
        return 0.0 if granted else wait

    def take(
        self,
        team: str,
        method: str,
        *,
        important: bool = True,
        urgent: bool = False,
        timeout: float = 120.0,
        stop: threading.Event | None = None,
    ) -> bool:
        """Wait (up to `timeout`) for a call of `method`; False if none freed in time or `stop` was set."""
        deadline = time.monotonic() + timeout
        waiter = stop or threading.Event()
        while True:
            wait = self.try_take(team, method, important=important, urgent=urgent)
            if wait == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or waiter.wait(min(wait, remaining)):  # pacing: wait for the bucket to refill
                return False

    def take_up_to(self, team: str, method: str, most: int, *, timeout: float = 600.0) -> int:
        """Wait (up to `timeout`) for at least one call of `method`, then take up to `most` in one round trip (a
        reader of hundreds of threads); the number taken, 0 if none freed in time."""
        bucket = self.buckets.get(method)
        if bucket is None:
            return most
        deadline = time.monotonic() + timeout
        while True:
            granted, wait = self._take(team, method, bucket, 0.0, most)
            if granted:
                return granted
            if (remaining := deadline - time.monotonic()) <= 0:
                return 0
            time.sleep(min(wait, remaining))

    def _take(self, team: str, method: str, bucket: Bucket, reserve: float, most: int) -> tuple[int, float]:
        """Up to `most` calls, leaving `reserve` tokens: (calls granted, seconds until one frees if none was)."""
        key = f"slack-budget:{team}:{method}"
        if self._script is not None:
            try:
                granted, wait = self._script(
                    keys=[key], args=[bucket.burst, bucket.rate_per_second, time.time(), reserve, most]
                )
                return int(granted), float(wait)
            except redis.RedisError as error:
                log.warning("Slack budget store unavailable (%s); budgeting in this process", type(error).__name__)
        return self._take_local(key, bucket, reserve, most)

    def _take_local(self, key: str, bucket: Bucket, reserve: float, most: int) -> tuple[int, float]:
        now = time.time()
        with self._lock:
            tokens, stamp = self._local.get(key, (bucket.burst, now))
            tokens = min(bucket.burst, tokens + max(0.0, now - stamp) * bucket.rate_per_second)
            if tokens >= 1 + reserve:
                granted = min(most, int(tokens - reserve))
                self._local[key] = (tokens - granted, now)
                return granted, 0.0
            self._local[key] = (tokens, now)
            return 0, (1 + reserve - tokens) / bucket.rate_per_second
