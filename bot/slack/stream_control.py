"""Signals to running answers, shared by all processes: the Stop button, and newer messages superseding them.

The Stop click (an interactivity request) and a newer message in the same thread may reach a different bot
process than the one writing the answer, so both live in Redis (or in memory without Redis).
"""

from __future__ import annotations

import threading

import redis

TTL_SECONDS = 3600


class StreamControl:
    def __init__(self, client: redis.Redis | None) -> None:
        self.client = client
        self._local: dict[str, str] = {}
        self._lock = threading.Lock()

    def request_stop(self, stream_id: str) -> None:
        self._set(f"stream-stop:{stream_id}", "1")

    def claim_thread(self, channel: str, thread_ts: str, stream_id: str) -> None:
        """This stream now answers the thread; an older one still running there stops (it is superseded)."""
        self._set(f"thread-answer:{channel}:{thread_ts}", stream_id)

    def should_continue(self, channel: str, thread_ts: str, stream_id: str) -> bool:
        if self._get(f"stream-stop:{stream_id}"):
            return False
        current = self._get(f"thread-answer:{channel}:{thread_ts}")
        return current in (None, stream_id)

    def stop_reason(self, channel: str, thread_ts: str, stream_id: str) -> str:
        if self._get(f"stream-stop:{stream_id}"):
            return "_Stopped._"
        return "_Stopped: a newer message in this thread is being answered._"

    def _set(self, key: str, value: str) -> None:
        if self.client is not None:
            try:
                self.client.set(key, value, ex=TTL_SECONDS)
                return
            except redis.RedisError:
                pass
        with self._lock:
            self._local[key] = value

    def _get(self, key: str) -> str | None:
        if self.client is not None:
            try:
                value = self.client.get(key)
                return value.decode() if value is not None else None
            except redis.RedisError:
                pass
        with self._lock:
            return self._local.get(key)
