"""Run `python app.py worker` as a real process tree, for tests and benchmarks; stop it, or kill it like a crash.

`kill()` sends SIGKILL to the supervisor and every process under it (RQ workers, their job processes and the
RQ scheduler) at once, as when a machine dies. `kill_worker_only()` kills everything but the job processes,
which run on, orphaned, as when only the worker process is OOM-killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from doubles.process_output import ProcessOutput

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "digest workers ready"
WORKER_READY_LINE = "Listening on"


class WorkerProcess:
    def __init__(self, env: dict[str, str], *, processes: int = 2) -> None:
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.processes = processes
        self._output = ProcessOutput()
        self.process: subprocess.Popen[str] | None = None

    @property
    def output(self) -> str:
        return self._output.text

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "worker", "--processes", str(self.processes)],
            cwd=ROOT,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=1,
            start_new_session=True,
        )
        self._output.follow(self.process)
        self.wait_for_output(lambda out: READY_LINE in out and out.count(WORKER_READY_LINE) >= self.processes, timeout)
        return self

    def wait_for_output(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> None:
        self._output.wait_for(predicate, timeout, "worker output never matched")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: the workers finish their current jobs, then exit."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> list[int]:
        """SIGKILL the whole tree at once (supervisor, workers, job processes, scheduler); returns the pids."""
        assert self.process
        pids = [self.process.pid, *descendants(self.process.pid)]
        for pid in pids:
            _kill(pid)
        self.process.wait()
        return pids

    def kill_worker_only(self) -> list[int]:
        """SIGKILL every process of the tree except the job processes, which keep running, orphaned.

        RQ starts each job process in a process group of its own; that is how they are told apart. Returns the
        pids of the job processes left running.
        """
        assert self.process
        tree = [self.process.pid, *descendants(self.process.pid)]
        jobs = [pid for pid in tree[1:] if _leads_own_group(pid)]
        for pid in tree:
            if pid not in jobs:
                _kill(pid)
        self.process.wait()
        return jobs


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _leads_own_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        for child in children_of(frontier.pop()):
            found.append(child)
            frontier.append(child)
    return found
