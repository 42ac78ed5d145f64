"""What one user request cost: filled in by the model gateway, written to the ledger once at the end."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bot.logs import request_id


@dataclass
class Meter:
    """Accumulates every model call made for one request (a summary may take several: map-reduce)."""

    workspace: str = ""
    channel: str = ""
    user: str = ""
    pattern: str = ""
    trigger: str = ""
    request_id: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    model_calls: int = 0
    cached_calls: int = 0
    tokens_estimated: bool = False  # some call's tokens were estimated (the server sent no usage)
    ttft_ms: float | None = None
    prompt: list[dict[str, Any]] | None = None  # the messages of the last model call (what the answer came from)
    response: str = ""
    context: list[dict[str, Any]] | None = None  # passages or tool results the answer used
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        request_id.set(self.request_id)  # log lines of this request (in this thread) carry its id

    def add_call(
        self,
        *,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        cached: bool,
        estimated: bool = False,
    ) -> None:
        with self._lock:
            self.tokens_estimated = self.tokens_estimated or estimated
            self.model = model
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            self.cost_usd += cost_usd
            self.model_calls += 1
            self.cached_calls += int(cached)

    def log_exchange(self, prompt: list[dict[str, Any]], response: str) -> None:
        with self._lock:
            self.prompt, self.response = prompt, response

    def first_token(self) -> None:
        """Mark the first visible output of the request (time to first token)."""
        with self._lock:
            if self.ttft_ms is None:
                self.ttft_ms = self.elapsed_ms()

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    @property
    def cache_hit(self) -> bool:
        """Every model call of the request was served from the cache (nothing was spent)."""
        return self.model_calls > 0 and self.cached_calls == self.model_calls
