"""The output of a child process, collected line by line so callers can wait for a line without sleeping."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable


class ProcessOutput:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._process: subprocess.Popen[str] | None = None

    @property
    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def follow(self, process: subprocess.Popen[str]) -> None:
        """Start collecting `process`'s stdout in a background thread."""
        with self._changed:
            self.lines = []
            self._process = process
        threading.Thread(target=self._collect, args=(process,), daemon=True).start()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float, what: str) -> None:
        """Return once `predicate(output)` holds; raise with the output's tail if the process ends or time runs out."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: (
                    predicate("\n".join(self.lines)) or (self._process is not None and self._process.poll() is not None)
                ),
                timeout,
            )
            if not done or not predicate("\n".join(self.lines)):
                raise RuntimeError(f"{what}; its output:\n" + "\n".join(self.lines[-40:]))

    def _collect(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        process.wait()  # reap it, so waiters see that it exited
        with self._changed:
            self._changed.notify_all()
