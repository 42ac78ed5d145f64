"""A per-workspace budget of Slack API calls, shared by every stream in every bot process (Redis token bucket).

Slack limits methods per workspace (chat.update about 50 a minute). Many simultaneous answers each editing their
message would overrun that, so every edit first takes a token here. The bucket is sized so that even a strict
sliding-window limiter is never exceeded: `burst + rate * 60 <= limit per minute`, less a margin of 10%: a call
reaches Slack a little after its token is granted (a busy process, a slow connection), so calls granted just
outside a minute can arrive inside it.

Under CPU load a bucket alone cannot keep that promise: granted calls reach Slack late and bunch up (24 429s in
one busy run of `bench/streaming.py`). So each method with a published limit also keeps a shared sliding-window
log of its calls (a Redis sorted set, on Redis's own clock). A call is logged when it is granted, as if it
reached Slack up to `IN_FLIGHT_SECONDS` later, and `sent()` moves it to the moment its answer came back (it
reached Slack before that). A call is granted only while fewer than the usable limit are logged in the last
minute: whenever a granted call arrives, every call it can meet in Slack's minute was already counted.

A 429 pauses its method for the whole workspace, in every process, until `Retry-After` has passed (`pause()`).

Three priorities share the bucket, by how much they leave in it. Urgent calls may take the last token (a stream
pays for the edit that will replace its "Thinking…" placeholder before posting it); important calls (final text,
summaries, digests) leave one; progress updates leave half the burst.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
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

# Methods whose calls are also kept in the sliding-window log (the reader of channel history paces by bucket only).
LOGGED_METHODS = frozenset(SLACK_LIMITS_PER_MINUTE)
# Slack allows about one chat.postMessage per second per channel (short bursts aside): posts are paced per
# channel one per POST_SECONDS, so long answers that roll over into more messages never burst into a channel.
POST_SECONDS = 1.1
ARRIVAL_MARGIN = 0.1  # share of each limit left unused, for the time between a grant and the call's arrival

IN_FLIGHT_SECONDS = 30.0  # a granted call not yet reported `sent()` may reach Slack this long after (the timeout)

# KEYS: bucket, [sliding log,] [pause]. ARGV: burst, rate, now, reserve, most, [cap, hold, member].
_TAKE = """
local pause_key = KEYS[3] or KEYS[2]
if pause_key then
  local paused = redis.call('PTTL', pause_key)
  if paused > 0 then return {0, tostring(paused / 1000)} end
end
local most = tonumber(ARGV[5])
local reserve = tonumber(ARGV[4])
local t = nil
if KEYS[3] then
  local clock = redis.call('TIME')
  t = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', t - 60)
  local free = tonumber(ARGV[6]) - reserve - redis.call('ZCARD', KEYS[2])
  if free < 1 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, tostring(math.max(0.05, tonumber(oldest[2]) + 60 - t))}
  end
  most = math.min(most, math.floor(free))
end
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
local stamp = tonumber(redis.call('HGET', KEYS[1], 'stamp'))
local burst, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tokens == nil then tokens = burst; stamp = now end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local granted = 0
if tokens >= 1 + reserve then granted = math.min(most, math.floor(tokens - reserve)); tokens = tokens - granted end
-- The stamp never moves back: a caller that read the clock before the last one (it waited for the interpreter
-- lock on the way here) must not make the next caller refill the same time twice.
redis.call('HSET', KEYS[1], 'tokens', tokens, 'stamp', math.max(stamp, now))
redis.call('EXPIRE', KEYS[1], 600)
if granted >= 1 then
  if t then
    for i = 1, granted do redis.call('ZADD', KEYS[2], t + tonumber(ARGV[7]), ARGV[8] .. ':' .. i) end
    redis.call('EXPIRE', KEYS[2], 600)
  end
  return {granted, '0'}
end
return {0, tostring((1 + reserve - tokens) / rate)}
"""

# The call reached Slack before its answer came back: it counts in the log from now on, not from its latest.
_SENT = """
local clock = redis.call('TIME')
redis.call('ZADD', KEYS[1], 'XX', tonumber(clock[1]) + tonumber(clock[2]) / 1000000, ARGV[1])
return 1
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
        self.limits = dict(limits or SLACK_LIMITS_PER_MINUTE)
        self._script = client.register_script(_TAKE) if client is not None else None
        self._sent = client.register_script(_SENT) if client is not None else None
        self._local: dict[str, tuple[float, float]] = {}
        self._local_pauses: dict[str, float] = {}
        self._lock = threading.Lock()
        self._tickets = threading.local()  # this thread's last grant per method: (log key, member)

    def pause(self, team: str, method: str, seconds: float) -> None:
        """Slack answered 429 with `Retry-After: seconds`: no call of `method` in this workspace, from any
        process, is granted before then."""
        key = f"slack-pause:{team}:{method}"
        milliseconds = max(1, int(seconds * 1000))
        if self.client is not None:
            try:
                self.client.set(key, "1", px=milliseconds)
                return
            except redis.RedisError as error:
                log.warning("Slack budget store unavailable (%s); pausing in this process", type(error).__name__)
        with self._lock:
            self._local_pauses[key] = time.monotonic() + seconds

    def sent(self, team: str, method: str) -> None:
        """The call this thread was last granted for `method` has been answered: it reached Slack before now."""
        ticket = getattr(self._tickets, "last", {}).pop(f"{team}:{method}", None)
        if ticket is None or self._sent is None:
            return
        try:
            self._sent(keys=[ticket[0]], args=[ticket[1]])
        except redis.RedisError as error:
            log.warning("Slack budget store unavailable (%s)", type(error).__name__)

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

    def pace_post(self, team: str, channel: str, *, timeout: float = 60.0, stop: threading.Event | None = None) -> bool:
        """Wait for the channel's next chat.postMessage slot (one per `POST_SECONDS`, shared by every process)."""
        bucket = Bucket(burst=1.0, rate_per_second=1 / POST_SECONDS)
        deadline = time.monotonic() + timeout
        waiter = stop or threading.Event()
        while True:
            granted, wait = self._take(f"{team}:{channel}", "chat.postMessage", bucket, 0.0, 1)
            if granted:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or waiter.wait(min(wait, remaining)):
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
            log_key, member = f"slack-log:{team}:{method}", uuid.uuid4().hex
            cap = self.limits.get(method, 0) * (1 - ARRIVAL_MARGIN)
            pause_key = f"slack-pause:{team}:{method}"
            try:
                granted, wait = self._script(
                    keys=[key, log_key, pause_key] if method in LOGGED_METHODS & set(self.limits) else [key, pause_key],
                    args=[
                        bucket.burst,
                        bucket.rate_per_second,
                        time.time(),
                        reserve,
                        most,
                        cap,
                        IN_FLIGHT_SECONDS,
                        member,
                    ],
                )
                if int(granted) == 1:
                    if not hasattr(self._tickets, "last"):
                        self._tickets.last = {}
                    self._tickets.last[f"{team}:{method}"] = (log_key, f"{member}:1")
                return int(granted), float(wait)
            except redis.RedisError as error:
                log.warning("Slack budget store unavailable (%s); budgeting in this process", type(error).__name__)
        return self._take_local(key, bucket, reserve, most)

    def _take_local(self, key: str, bucket: Bucket, reserve: float, most: int) -> tuple[int, float]:
        now = time.time()
        with self._lock:
            paused = self._local_pauses.get(key.replace("slack-budget:", "slack-pause:", 1), 0.0) - time.monotonic()
            if paused > 0:
                return 0, paused
            tokens, stamp = self._local.get(key, (bucket.burst, now))
            tokens = min(bucket.burst, tokens + max(0.0, now - stamp) * bucket.rate_per_second)
            if tokens >= 1 + reserve:
                granted = min(most, int(tokens - reserve))
                self._local[key] = (tokens - granted, now)
                return granted, 0.0
            self._local[key] = (tokens, now)
            return 0, (1 + reserve - tokens) / bucket.rate_per_second
