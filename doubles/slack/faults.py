"""Injected failures: the next calls of a method answer 429, a Slack error, or an HTTP error status."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from .params import Answer
from .rate_limits import ratelimited
from .workspace import Workspace


@dataclass
class Fault:
    """An injected outcome for the next `times` calls of a method."""

    kind: str  # "ratelimited" | "error" | "http"
    times: int
    value: Any  # Retry-After seconds | error string | HTTP status
    lasting: bool = False  # ratelimited: the method stays limited until Retry-After has passed


class FaultQueue:
    """Injected outcomes per method, used up in order."""

    def __init__(self) -> None:
        self._queued: dict[str, deque[Fault]] = {}
        self._limited_until: dict[str, float] = {}

    def add(self, method: str, fault: Fault) -> None:
        self._queued.setdefault(method, deque()).append(fault)

    def clear(self) -> None:
        self._queued.clear()
        self._limited_until.clear()

    def take(self, method: str) -> Answer | None:
        """The injected answer for this call of `method`, if any (consumes one fault)."""
        now = time.monotonic()
        if (until := self._limited_until.get(method, 0.0)) > now:
            return ratelimited(max(1, math.ceil(until - now)))
        queue = self._queued.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        if fault.kind == "ratelimited":
            if fault.lasting:
                self._limited_until[method] = now + int(fault.value)
            return ratelimited(int(fault.value))
        if fault.kind == "error":
            return 200, {"ok": False, "error": fault.value}, {}
        return int(fault.value), {"ok": False, "error": "fatal_error"}, {}


class FaultMethods(Workspace):
    """The fault-injection API of `SlackServer`."""

    _faults: FaultQueue

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1, *, lasting: bool = False) -> None:
        """Answer the next `times` calls of `method` with HTTP 429 and ``Retry-After``.

        `lasting`: as Slack does, every call of `method` (from any client) until ``Retry-After`` has passed is
        answered 429 too, with the time left."""
        self._add_fault(method, Fault("ratelimited", times, retry_after, lasting))

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with ``{"ok": false, "error": error}``."""
        self._add_fault(method, Fault("error", times, error))

    def fail_http(self, method: str, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` calls of `method` with an HTTP error status."""
        self._add_fault(method, Fault("http", times, status))

    def _add_fault(self, method: str, fault: Fault) -> None:
        with self._lock:
            self._faults.add(method, fault)
