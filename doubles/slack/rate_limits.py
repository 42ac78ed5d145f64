"""Slack's rate limits: at most N calls of a method per sliding minute (or another window), for the whole server, per workspace or per
channel, answered with HTTP 429 and ``Retry-After`` beyond that.

Slack counts most limits per workspace (its "tiers"), and ``chat.postMessage`` per channel. A call counts against
the workspace of its ``channel`` (else ``user``) parameter; `SlackServer.assign_workspace` says which team a
channel or user belongs to (unassigned ones belong to the server's own ``team_id``).
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from typing import Literal

from .params import Answer, Params
from .workspace import Workspace

Scope = Literal["server", "workspace", "channel"]


def ratelimited(retry_after: int) -> Answer:
    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}


class RateLimits:
    """Sliding-minute limits per method, each counted for the server, per workspace or per channel."""

    def __init__(self, team_id: str) -> None:
        self.team_id = team_id
        self.team_of: dict[str, str] = {}  # channel or user id -> team id
        self.limited: Counter[tuple[str, str]] = Counter()  # (method, "server" | team | channel) -> 429s
        self._limits: dict[str, tuple[int, Scope, float]] = {}
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def set(self, method: str, per_minute: int | None, scope: Scope, seconds: float = 60.0) -> None:
        for key in [key for key in self._windows if key[0] == method]:
            del self._windows[key]
        if per_minute is None:
            self._limits.pop(method, None)
        else:
            self._limits[method] = (per_minute, scope, seconds)

    def clear(self) -> None:
        """Remove every limit and forget what was counted (workspace assignments are kept)."""
        self._limits.clear()
        self._windows.clear()
        self.limited.clear()

    def take(self, method: str, params: Params) -> Answer | None:
        """A 429 when this call is over its limit, else None (and the call is counted)."""
        limit = self._limits.get(method)
        if limit is None:
            return None
        per_minute, scope, seconds = limit
        key = (method, self._scope_key(scope, params))
        now = time.monotonic()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - seconds:
            window.popleft()
        if len(window) < per_minute:
            window.append(now)
            return None
        self.limited[key] += 1
        return ratelimited(max(1, math.ceil(window[0] + seconds - now if window else seconds)))

    def _scope_key(self, scope: Scope, params: Params) -> str:
        channel = str(params.get("channel") or params.get("channel_id") or "")
        if scope == "channel":
            return channel
        if scope == "workspace":
            return self.team_of.get(channel) or self.team_of.get(str(params.get("user") or ""), self.team_id)
        return "server"


class RateLimitMethods(Workspace):
    """The rate-limit API of `SlackServer`."""

    _limits: RateLimits
    _ratelimited_count: int

    def set_rate_limit(
        self, method: str, per_minute: int | None, *, per: Scope = "server", seconds: float = 60.0
    ) -> None:
        """Allow at most `per_minute` calls of `method` per sliding minute (None removes the limit); with
        `seconds`, per sliding window of that length instead (``chat.postMessage``: 1 per second per channel).

        `per`: count the calls for the whole server (default), per workspace (the team of the call's channel or
        user, see `assign_workspace`) or per channel.
        """
        with self._lock:
            self._limits.set(method, per_minute, per, seconds)

    def assign_workspace(self, team_id: str, *ids: str) -> None:
        """Say that these channels and users belong to workspace `team_id`, for limits counted per workspace."""
        with self._lock:
            self._limits.team_of.update(dict.fromkeys(ids, team_id))

    @property
    def ratelimited_count(self) -> int:
        """How many calls were answered 429 (injected or by a sliding-window limit)."""
        with self._lock:
            return self._ratelimited_count

    def ratelimited_by_scope(self) -> Counter[tuple[str, str]]:
        """429s from sliding-window limits per (method, scope): ``"server"``, a team id or a channel id."""
        with self._lock:
            return Counter(self._limits.limited)
