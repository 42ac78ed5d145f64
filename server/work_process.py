"""Post-ack work in a process of its own, so that acks never wait behind it (HTTP mode).

Python threads share one interpreter lock: when a web process both acks requests and runs the answers that
follow (Slack posts, model streams, ledger writes), a burst of answers delays the acks that Slack needs within
3 seconds. So each web worker process starts one work process and hands it every Bolt lazy listener call over a
pipe: the raw request and the lazy function's name. The work process runs the same Bolt app in lazy-only mode
(as Bolt's AWS Lambda adapter re-invokes the function with `x-slack-bolt-lazy-only`), at a lower CPU priority
(`WORK_PROCESS_NICE`): on a saturated machine the acks are served first and the answers catch up.

Nothing is dropped on the way. A request thread only puts the call on an in-memory queue; one sender thread
writes it to the pipe. The work process reports back, on a second pipe, when it starts each call and when it has
finished it. A call handed over is kept until it has started there: if the work process dies first (a crash, an
out-of-memory kill), even with the call still in the pipe's buffer, the call runs on this process's own listener
threads instead, and that is logged. A call the work process had started when it died is not run again, since
its reply may already be in Slack; it is logged by name. When the web process stops, the work process finishes
what it was given first.
"""

from __future__ import annotations

import atexit
import itertools
import json
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner

from bot.settings import Settings
from bot.storage.ledger_writer import close_all

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 25.0  # gunicorn's graceful timeout is 20 s; the work process gets a little longer
AppFactory = Callable[[], App]

ID_BYTES = 8  # each call on the pipe starts with its id; each report back is b"S" or b"D" and the id
STARTED, DONE = b"S", b"D"


class WorkProcess:
    """One child process that runs lazy listener calls; owned by one web worker process."""

    def __init__(self, settings: Settings, app_factory: AppFactory) -> None:
        self.settings = settings
        self._app_factory = app_factory
        self._outbox: queue.SimpleQueue[tuple[int, bytes] | None] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[int, Callable[[], None]] = {}  # handed over, not yet started by the work process
        self._running: dict[int, str] = {}  # started there and not finished: the lazy function's name
        self._alive = True
        self._pipe_broken = False
        self._stopped = False

    def start(self) -> WorkProcess:
        """Fork the work process; call before this process starts threads of its own (fork copies one thread)."""
        context = multiprocessing.get_context("fork")
        calls_out, calls_in = context.Pipe(duplex=False)
        reports_out, reports_in = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_work_main,
            args=(self._app_factory, calls_out, reports_in, (calls_in, reports_out), self.settings),
            name="work",
        )
        self._process.start()
        calls_out.close()  # only the work process's copies remain: its death closes them, and writes then fail
        reports_in.close()
        self._pipe, self._reports = calls_in, reports_out
        self._sender = threading.Thread(target=self._send_all, name="work-sender", daemon=True)
        self._sender.start()
        self._listener = threading.Thread(target=self._follow_reports, name="work-reports", daemon=True)
        self._listener.start()
        atexit.register(self.stop)
        log.info("work process %d started for web process %d", self._process.pid, os.getpid())
        return self

    def submit(self, message: bytes, run_here: Callable[[], None]) -> None:
        """Queue one call for the work process; `run_here` runs it in this process if that one is gone first."""
        with self._lock:
            handed_over = self._alive
            if handed_over:
                call_id = next(self._ids)
                self._waiting[call_id] = run_here
        if handed_over:
            self._outbox.put((call_id, message))
        else:
            run_here()

    def stop(self) -> None:
        """Let the work process finish what it was given, then wait for it (bounded)."""
        if self._stopped:
            return
        self._stopped = True
        self._outbox.put(None)
        self._sender.join(STOP_TIMEOUT_SECONDS)
        self._process.join(STOP_TIMEOUT_SECONDS)
        if self._process.is_alive():
            log.error("work process %d did not finish in %.0f s; stopping it", self._process.pid, STOP_TIMEOUT_SECONDS)
            self._process.terminate()
        self._listener.join(STOP_TIMEOUT_SECONDS)

    def _send_all(self) -> None:
        while (item := self._outbox.get()) is not None:
            call_id, message = item
            if not self._alive:
                continue  # the call was taken back when the work process ended
            if self._pipe_broken:
                continue  # the work process is gone: `_follow_reports` takes the call back once it has seen the end
            try:
                self._pipe.send_bytes(call_id.to_bytes(ID_BYTES, "big") + message)
            except (OSError, ValueError) as error:
                self._pipe_broken = True
                log.error("work process %s no longer reads its calls (%s)", self._process.pid, type(error).__name__)
        self._pipe.close()

    def _follow_reports(self) -> None:
        """Note which calls the work process started and finished; when it ends, take back what it never started."""
        while True:
            ready = wait([self._reports, self._process.sentinel])
            if self._reports in ready:
                try:
                    report = self._reports.recv_bytes()
                except (EOFError, OSError):
                    break
                self._note(report)
            elif not self._reports.poll():  # the process has ended and every report it sent has been read
                break
        self._reports.close()
        self._take_back(f"exit code {self._process.exitcode}" if self._process.exitcode is not None else "pipe closed")

    def _note(self, report: bytes) -> None:
        kind, call_id, name = report[:1], int.from_bytes(report[1 : 1 + ID_BYTES], "big"), report[1 + ID_BYTES :]
        with self._lock:
            if kind == STARTED:
                self._waiting.pop(call_id, None)
                self._running[call_id] = name.decode()
            else:
                self._running.pop(call_id, None)

    def _take_back(self, reason: str) -> None:
        """The work process is gone: run here what it never started, and log what it left unfinished."""
        with self._lock:
            if not self._alive:
                return
            self._alive = False
            orphans, self._waiting = list(self._waiting.values()), {}
            interrupted, self._running = sorted(self._running.values()), {}
        if self._stopped and not orphans and not interrupted:
            return  # a clean stop
        log.error(
            "work process %s is gone (%s); post-ack work now runs in web process %d, starting with the %d calls "
            "it had not started",
            self._process.pid,
            reason,
            os.getpid(),
            len(orphans),
        )
        if interrupted:
            log.error("work process %s ended while running %s; not run again", self._process.pid, interrupted)
        for run_here in orphans:
            try:
                run_here()
            except Exception:  # e.g. at exit, when no thread can be started any more
                log.exception("a call the work process had not started could not be run here either")


class WorkProcessLazyRunner(LazyListenerRunner):
    """Bolt's lazy listener runner for the web process: hands each call to the work process."""

    def __init__(self, work: WorkProcess, local: LazyListenerRunner) -> None:
        self.logger = log
        self.work = work
        self.local = local

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        message = json.dumps(
            {
                "function": request.lazy_function_name,
                "body": request.raw_body,
                "query": request.query,
                "headers": request.headers,
                "context": handed_over_context(request.context),
            }
        ).encode()
        self.work.submit(message, lambda: self.local.start(function, request))


def handed_over_context(context: BoltContext) -> dict[str, Any]:
    """What an ack function put in the context for its lazy listeners (Bolt's own entries are rebuilt there)."""
    return {key: value for key, value in context.items() if key not in BoltContext.standard_property_names}


def _work_main(
    app_factory: AppFactory,
    calls: Connection,
    reports: Connection,
    inherited: tuple[Connection, Connection],
    settings: Settings,
) -> None:
    """The work process: receive calls until the pipe closes, run each on a listener thread, then finish them."""
    for end in inherited:  # the fork copied the web process's ends: only closing them here lets EOF arrive
        end.close()
    if settings.work_process_nice:
        os.nice(settings.work_process_nice)
    app = app_factory()
    report_lock = threading.Lock()  # a Connection is not safe for concurrent writers

    def report(kind: bytes, call_id: int, name: str = "") -> None:
        try:
            with report_lock:
                reports.send_bytes(kind + call_id.to_bytes(ID_BYTES, "big") + name.encode())
        except (OSError, ValueError):
            pass  # the web process is gone: the work still gets done

    with ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="work") as executor:
        while True:
            try:
                message = calls.recv_bytes()
            except (EOFError, OSError):
                break
            executor.submit(_run, app, int.from_bytes(message[:ID_BYTES], "big"), message[ID_BYTES:], report)
    close_all()  # a multiprocessing child skips atexit: write the ledger rows still waiting
    log.info("work process %d finished its work", os.getpid())


def _run(app: App, call_id: int, message: bytes, report: Callable[..., None]) -> None:
    call = json.loads(message)
    report(STARTED, call_id, call["function"])
    try:
        headers = dict(call["headers"])
        headers["x-slack-bolt-lazy-only"] = ["1"]
        headers["x-slack-bolt-lazy-function-name"] = [call["function"]]
        request = BoltRequest(body=call["body"], query=call["query"], headers=headers, context=call["context"])
        response = app.dispatch(request)
    except Exception:
        log.exception("work process: %s failed", call["function"])
        return
    finally:
        report(DONE, call_id)
    if response.status != 200:
        log.error("work process: %s was not run (status %d)", call["function"], response.status)
