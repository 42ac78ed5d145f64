"""Process figures, once a second: CPU and peak memory of the bot, the workers, the servers and the generator."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds of a process plus its reaped children (utime + stime + cutime + cstime)."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def proc_hwm_mb(pid: int) -> float:
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def system_busy() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


@dataclass
class Sample:
    at: float
    bot_cpu: float
    work_cpu: float  # the bot's work processes (children of the gunicorn workers), part of bot_cpu
    bot_hwm: float
    bot_processes: int
    worker_cpu: float
    worker_hwm: float
    main_cpu: float
    generator_cpu: float
    busy: float
    model_in_flight: int
    queue_depth: int


class Sampler(threading.Thread):
    """Once a second: CPU and peak memory of the bot's process tree (gunicorn master and workers), of the digest
    workers, of this process (the local Slack and model servers) and of the generator; machine-wide busy time."""

    def __init__(
        self, bot_pid: int, worker_pid: int | None, generator_pids: list[int], model: Any, queue_depth: Any
    ) -> None:
        super().__init__(daemon=True)
        self.bot_pid, self.worker_pid, self.generator_pids = bot_pid, worker_pid, generator_pids
        self.model, self.queue_depth = model, queue_depth
        self.samples: list[Sample] = []
        self.stopped = threading.Event()
        self.bot_hwm_each: dict[int, float] = {}

    def tree(self, pid: int | None) -> list[int]:
        from doubles.worker_process import descendants

        return [pid, *descendants(pid)] if pid else []

    def sample(self) -> Sample:
        bot = self.tree(self.bot_pid)
        workers = self.tree(self.worker_pid)
        for pid in bot:
            self.bot_hwm_each[pid] = max(self.bot_hwm_each.get(pid, 0.0), proc_hwm_mb(pid))
        try:
            depth = int(self.queue_depth())
        except Exception:  # noqa: BLE001
            depth = -1
        from doubles.worker_process import children_of

        web = {self.bot_pid, *children_of(self.bot_pid)}  # gunicorn master and workers; the rest do post-ack work
        return Sample(
            time.time(),
            sum(proc_cpu(p) for p in bot),
            sum(proc_cpu(p) for p in bot if p not in web),
            sum(proc_hwm_mb(p) for p in bot),
            len(bot),
            sum(proc_cpu(p) for p in workers),
            sum(proc_hwm_mb(p) for p in workers),
            time.process_time(),
            sum(proc_cpu(p) for p in self.generator_pids),
            system_busy(),
            self.model.in_flight,
            depth,
        )

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append(self.sample())
            self.stopped.wait(1.0)

    def at(self, moment: float) -> Sample:
        return min(self.samples, key=lambda s: abs(s.at - moment))
