"""Run the bot as a real process (`python app.py serve`) on a free port, the way it is deployed.

Used by the tests and benchmarks. Output is collected so callers can wait for readiness and read logs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from doubles.process_output import ProcessOutput

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "bot ready"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    """`start()` returns once every HTTP worker has built its app; `stop()` terminates it gracefully."""

    def __init__(self, env: dict[str, str], *, workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()
        self.workers = workers
        self.env = {
            **os.environ,
            **env,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "PYTHONUNBUFFERED": "1",
        }
        self._output = ProcessOutput()
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return self._output.text

    def start(self, timeout: float = 60.0) -> BotProcess:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "serve"],
            cwd=ROOT,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=1,
        )
        self._output.follow(self.process)
        self.wait_for_output(lambda out: out.count(READY_LINE) >= self.workers, timeout)
        return self

    def wait_for_output(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> None:
        self._output.wait_for(predicate, timeout, "bot process output never matched")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> BotProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
