"""Which channel a user was viewing when they opened the bot's pane (Slack's thread context), kept in Redis.

Slack sends the viewed channel with `assistant_thread_started` and `assistant_thread_context_changed`, but not
with the messages that follow, so it is stored here per (DM channel, thread), shared by every bot process. Bolt's
own store keeps it in message metadata and reads it back with conversations.history (a Tier 3 call per message);
one Redis key is cheaper. Without Redis (or while it is down) the context is kept in this process.
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger(__name__)

TTL_SECONDS = 7 * 24 * 3600


class ThreadContexts:
    def __init__(self, client: redis.Redis | None) -> None:
        self.client = client
        self._local: dict[str, str] = {}

    def save(self, dm_channel: str, thread_ts: str, viewed_channel: str) -> None:
        key = _key(dm_channel, thread_ts)
        self._local[key] = viewed_channel
        if self.client is not None:
            try:
                self.client.set(key, viewed_channel, ex=TTL_SECONDS)
            except redis.RedisError as error:
                log.warning("thread context kept in this process only (%s)", type(error).__name__)

    def find(self, dm_channel: str, thread_ts: str) -> str | None:
        key = _key(dm_channel, thread_ts)
        if self.client is not None:
            try:
                value = self.client.get(key)
                if value is not None:
                    return value.decode() if isinstance(value, bytes) else str(value)
            except redis.RedisError as error:
                log.warning("thread context store unavailable (%s)", type(error).__name__)
        return self._local.get(key)


def _key(dm_channel: str, thread_ts: str) -> str:
    return f"assistant-context:{dm_channel}:{thread_ts}"
