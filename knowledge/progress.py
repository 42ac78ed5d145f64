"""Progress of a long ingest on a terminal (one line redrawn) or in a log (a line every few seconds)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, every: float = 2.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self._last = 0.0
        self._started = time.monotonic()
        self._open_line = False

    def reading(self, done: int, total: int, name: str, chunks: int) -> None:
        self._show(f"reading files {done}/{total} ({chunks} chunks so far): {name}", final=done == total)

    def embedding(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 and done else 0.0
        left = f", about {_duration((total - done) / rate)} left" if rate and done < total else ""
        self._show(f"embedding chunks {done}/{total}{left}", final=done == total)

    def restart_clock(self) -> None:
        self._started = time.monotonic()

    def note(self, message: str) -> None:
        self._end_line()
        print(message, file=self.stream, flush=True)

    def _show(self, message: str, *, final: bool) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.1 if self.tty else self.every):
            return
        self._last = now
        if self.tty:
            print("\r\033[K" + message, end="", file=self.stream, flush=True)
            self._open_line = True
            if final:
                self._end_line()
        else:
            print(message, file=self.stream, flush=True)

    def _end_line(self) -> None:
        if self._open_line:
            print(file=self.stream, flush=True)
            self._open_line = False


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
