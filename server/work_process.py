"""Post-ack work in a process of its own, so that acks never wait behind it (HTTP mode).

Python threads share one interpreter lock: when a web process both acks requests and runs the answers that
follow (Slack posts, model streams, ledger writes), a burst of answers delays the acks that Slack needs within
3 seconds. So each web worker process starts one work process and hands it every Bolt lazy listener call over a
pipe: the raw request and the lazy function's name. The work process runs the same Bolt app in lazy-only mode
(as Bolt's AWS Lambda adapter re-invokes the function with `x-slack-bolt-lazy-only`), at a lower CPU priority
(`WORK_PROCESS_NICE`): on a saturated machine the acks are served first and the answers catch up.

Nothing is dropped on the way. A request thread only puts the call on an in-memory queue; one sender thread
writes it to the pipe. If the work process is gone, the call runs on this process's own listener threads
instead, and that is logged. When the web process stops, the work process finishes what it was given first.
"""

from __future__ import annotations

import atexit
import json
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest
from slack_bolt.lazy_listener import LazyListenerRunner

from bot.settings import Settings
from bot.storage.ledger_writer import close_all

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 25.0  # gunicorn's graceful timeout is 20 s; the work process gets a little longer
AppFactory = Callable[[], App]


class WorkProcess:
    """One child process that runs lazy listener calls; owned by one web worker process."""

    def __init__(self, settings: Settings, app_factory: AppFactory) -> None:
        self.settings = settings
        self._app_factory = app_factory
        self._outbox: queue.SimpleQueue[tuple[bytes, Callable[[], None]] | None] = queue.SimpleQueue()
        self._alive = True
        self._stopped = False

    def start(self) -> WorkProcess:
        """Fork the work process; call before this process starts threads of its own (fork copies one thread)."""
        context = multiprocessing.get_context("fork")
        reader, writer = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_work_main, args=(self._app_factory, reader, writer, self.settings), name="work"
        )
        self._process.start()
        reader.close()
        self._pipe = writer
        self._sender = threading.Thread(target=self._send_all, name="work-sender", daemon=True)
        self._sender.start()
        atexit.register(self.stop)
        log.info("work process %d started for web process %d", self._process.pid, os.getpid())
        return self

    def submit(self, message: bytes, run_here: Callable[[], None]) -> None:
        """Queue one call for the work process; `run_here` runs it in this process if that one is gone."""
        if not self._alive:
            run_here()
            return
        self._outbox.put((message, run_here))

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

    def _send_all(self) -> None:
        while (item := self._outbox.get()) is not None:
            message, run_here = item
            if self._alive:
                try:
                    self._pipe.send_bytes(message)
                    continue
                except (OSError, ValueError) as error:
                    self._alive = False
                    log.error(
                        "work process %s is gone (%s); post-ack work now runs in web process %d",
                        self._process.pid,
                        type(error).__name__,
                        os.getpid(),
                    )
            run_here()
        self._pipe.close()


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


def _work_main(app_factory: AppFactory, pipe: Connection, inherited_writer: Connection, settings: Settings) -> None:
    """The work process: receive calls until the pipe closes, run each on a listener thread, then finish them."""
    inherited_writer.close()  # the fork copied the web process's end: only closing it here lets EOF arrive
    if settings.work_process_nice:
        os.nice(settings.work_process_nice)
    app = app_factory()
    with ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="work") as executor:
        while True:
            try:
                message = pipe.recv_bytes()
            except (EOFError, OSError):
                break
            executor.submit(_run, app, message)
    close_all()  # a multiprocessing child skips atexit: write the ledger rows still waiting
    log.info("work process %d finished its work", os.getpid())


def _run(app: App, message: bytes) -> None:
    call = json.loads(message)
    headers = dict(call["headers"])
    headers["x-slack-bolt-lazy-only"] = ["1"]
    headers["x-slack-bolt-lazy-function-name"] = [call["function"]]
    request = BoltRequest(body=call["body"], query=call["query"], headers=headers, context=call["context"])
    try:
        response = app.dispatch(request)
    except Exception:
        log.exception("work process: %s failed", call["function"])
        return
    if response.status != 200:
        log.error("work process: %s was not run (status %d)", call["function"], response.status)
