"""Drive `python app.py sql --batch - --json` one query at a time, and read the process's memory as it runs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cli_env(**settings: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LOG_LEVEL": "INFO", **settings}


def run_sql(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", "sql", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


class SqlBatch:
    """A running `app.py sql --batch - --json`: each `ask` sends one line and waits for its answer."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._stderr = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "app.py", "sql", "--batch", "-", "--json"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )

    def ask(self, sql: str) -> tuple[dict[str, Any], str, float]:
        """The answer, its raw line, and the wall-clock seconds from sending the query to reading the answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        started = time.monotonic()
        self.process.stdin.write(json.dumps({"sql": sql}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"app.py sql ended early: {self.log.read_text()[-2000:]}"
        return json.loads(line), line, time.monotonic() - started

    def memory_kb(self, field: str) -> int:
        """VmRSS (now) or VmHWM (peak since the last `reset_peak`) of the running command, in kB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match.group(1))

    def reset_peak(self) -> None:
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def close(self) -> tuple[int, str]:
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = self.process.wait(timeout=60)
        self._stderr.close()
        return code, self.log.read_text()
