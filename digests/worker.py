"""`python app.py worker`: RQ worker processes for digests, plus the loop that queues due schedules.

Any number of these (on one machine or many) can share one Redis. Each process runs an RQ worker with the RQ
scheduler enabled (retries that wait are queued by whichever worker holds the scheduler lock). The supervising
process queues due digest schedules and restarts worker processes that die.

A worker that dies mid-job (killed, out of memory, machine lost) stops sending heartbeats; RQ's maintenance,
run by the surviving workers every `WORKER_MAINTENANCE_SECONDS`, finds the job once the heartbeat is
`WORKER_DEAD_AFTER_SECONDS` old and retries it. RQ hard-codes that grace at 60 seconds; `DigestWorker` makes
it a setting.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing.process import BaseProcess
from typing import Any

import openai
import redis
from openai.types.chat import ChatCompletion
from rq import Worker
from rq.executions import Execution
from rq.job import Job

from bot.settings import Settings, load_settings
from bot.slack.client import workspace_client
from bot.storage.digest_journal import DigestJournal
from bot.storage.digest_schedules import ScheduleStore
from bot.storage.ledger import Ledger
from bot.storage.spend_limits import Budgets
from digests import context
from digests.queue import connect, digest_queue, enqueue
from digests.request import DigestRequest
from digests.schedules import run_due

log = logging.getLogger(__name__)


class DigestWorker(Worker):
    """RQ's forking worker with a configurable heartbeat grace before a silent worker's job is retried."""

    dead_after_seconds = 60
    max_connection_wait_time = 5.0  # an idle worker retries an unreachable Redis this often at most (RQ: 60 s)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        """A heartbeat lost to a Redis outage is skipped, not fatal: RQ would quit the worker mid-job. The job
        keeps its worker as long as Redis is back within `WORKER_DEAD_AFTER_SECONDS`."""
        try:
            super().maintain_heartbeats(job, execution)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            self.log.warning("Worker %s: Redis unreachable, heartbeat of job %s skipped (%s)", self.name, job.id, error)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + self.dead_after_seconds


def work(settings: Settings, *, burst: bool = False) -> bool:
    """Run one RQ worker on the digest queue until stopped (or, with `burst`, until the queue is empty)."""

    assert settings.redis_url
    context.services()  # built here once; every job forked from this process starts with them
    connection = connect(settings.redis_url)
    if not burst:
        _wait_for_redis(connection)
    worker = DigestWorker(
        [settings.digest_queue],
        connection=connection,
        worker_ttl=settings.worker_maintenance_seconds + 15,  # an idle worker wakes every maintenance interval
        job_monitoring_interval=settings.worker_heartbeat_seconds,
        maintenance_interval=settings.worker_maintenance_seconds,
    )
    worker.dead_after_seconds = settings.worker_dead_after_seconds
    return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)


def _wait_for_redis(connection: redis.Redis) -> None:
    """Return once Redis answers (RQ cannot even start a worker without it), retrying at most every 5 seconds."""
    delay = 0.5
    while True:
        try:
            connection.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError) as error:
            log.warning("digest worker: Redis unreachable (%s); trying again in %.1f s", error, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _child() -> None:
    """Entry point of one worker process (forked from the supervisor)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    work(load_settings())


def _warm_up() -> None:
    """Import, once, what the first model call of a process imports lazily (about a second), so the jobs forked
    from this process start at full speed."""

    import digests.job  # noqa: F401

    ChatCompletion.model_validate(
        {
            "id": "warm-up",
            "object": "chat.completion",
            "created": 0,
            "model": "warm-up",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )
    openai.OpenAI(api_key="warm-up", base_url="http://127.0.0.1:9/v1").chat.completions.create  # noqa: B018


class Supervisor:
    """Starts `processes` workers, queues due schedules, restarts dead workers, stops them all on SIGTERM."""

    def __init__(self, settings: Settings, processes: int) -> None:
        self.settings, self.processes = settings, processes
        self.children: list[BaseProcess] = []
        self.stopping = threading.Event()
        self._signal: int | None = None
        # Workers are forked from this process once it has imported and warmed up what jobs use, so starting
        # them costs no import time. Nothing here holds a connection a worker would use.
        self._context = multiprocessing.get_context("fork")

    def run(self) -> int:
        _warm_up()
        for _ in range(self.processes):
            self._start_child()
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        print(f"digest workers ready: {self.processes} processes on queue {self.settings.digest_queue}", flush=True)
        schedules = _ScheduleRunner(self.settings)
        while not self.stopping.wait(self.settings.schedule_check_seconds):
            schedules.run_due()
            schedules.requeue_forgotten()
            self._restart_dead()
        self._shutdown()
        return 0

    def _start_child(self) -> None:
        child = self._context.Process(target=_child, name="digest-worker")
        child.start()
        self.children.append(child)

    def _restart_dead(self) -> None:
        for child in list(self.children):
            if not child.is_alive() and not self.stopping.is_set():
                log.error("worker process %s exited with %s; starting a new one", child.pid, child.exitcode)
                self.children.remove(child)
                self._start_child()

    def _stop(self, signum: int, frame: Any) -> None:
        self._signal = signum
        self.stopping.set()

    def _shutdown(self) -> None:
        """Warm shutdown: each worker finishes its current job first (a second signal to it would abort it).

        Ctrl-C reaches every process of the terminal's group, so only SIGTERM is passed on to the workers.
        """
        log.info("stopping %d worker processes after their current jobs", len(self.children))
        for child in self.children:
            if child.is_alive() and child.pid and self._signal == signal.SIGTERM:
                os.kill(child.pid, signal.SIGTERM)
        for child in self.children:
            child.join()


class _ScheduleRunner:
    """Queues the digests of due schedules, and again the journal's digests that Redis forgot; a failure is logged
    and retried at the next check."""

    def __init__(self, settings: Settings) -> None:

        self.settings = settings
        ledger = Ledger(settings.resolved_database_url)
        self.engine = ledger.engine
        self.budgets = Budgets(ledger, outage_max_cost=settings.budget_outage_max_cost_usd)
        self.store = ScheduleStore(self.engine)
        self.journal = DigestJournal(self.engine)
        self.connection = connect(settings.redis_url or "")
        self.queue = digest_queue(self.connection, settings)

    def run_due(self) -> None:

        try:
            run_due(
                self.store,
                partial(workspace_client, self.settings, self.engine),
                self.connection,
                self.queue,
                self.settings,
                journal=self.journal,
                now=datetime.now(UTC),
                budgets=self.budgets,
            )
        except Exception:
            log.exception("digest schedules: could not check for due schedules")

    def requeue_forgotten(self) -> None:
        """Queue again the open digests of the journal that Redis has forgotten (restarted without its data)."""

        try:
            self.journal.requeue_forgotten(
                known=lambda job_id: Job.exists(job_id, connection=self.connection),
                requeue=lambda request: enqueue(self.queue, DigestRequest.from_dict(request), self.settings),
                now=datetime.now(UTC),
                grace=timedelta(seconds=self.settings.digest_requeue_after_seconds),
            )
        except Exception:
            log.exception("digest journal: could not look for digests the job queue forgot")


def run(settings: Settings, processes: int | None = None) -> int:
    if not settings.redis_url:
        print("Digest workers need REDIS_URL: the queue they share lives in Redis.", flush=True)
        return 2
    return Supervisor(settings, processes or settings.worker_processes).run()
