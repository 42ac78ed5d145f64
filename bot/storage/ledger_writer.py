"""Write-behind for the ledger: rows go to the database from one background thread, in batches.

A bot process answers hundreds of requests at once. Writing each row on the request's own thread means a
connection checkout, an ORM flush and a commit per request, all contending for the interpreter lock and a small
connection pool; under load, threads waited out the pool's 30 s timeout and their rows were lost. Here a request
only appends a row to a list. One thread inserts whatever has gathered in a single statement, so the batch grows
with the load, and while the database is unreachable rows wait (up to `max_pending`) and are written once it is
back. A row the database refuses is dropped alone, so that it cannot hold up the rows behind it. Rows beyond
`max_pending`, refused, or still waiting when the process stops, are counted and logged as lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

log = logging.getLogger(__name__)

Row = dict[str, Any]

BATCH_ROWS = 500
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)  # waits between attempts while the database is unreachable
STOP_SECONDS = 10.0  # how long a stopping process waits for its rows to be written

# PostgreSQL's error classes that blame the row: data exception, integrity constraint, program limit (too large).
ROW_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})

_writers: weakref.WeakSet[RowWriter] = weakref.WeakSet()


def close_all() -> None:
    """Close every writer of this process: for a process that ends without running `atexit` (a forked child)."""
    for writer in list(_writers):
        writer.close()


class RowWriter:
    """Queues rows and writes them with `insert(rows)` from a thread of its own (started on first use)."""

    def __init__(
        self, insert: Callable[[list[Row]], None], *, on_lost: Callable[[int], None], max_pending: int = 50_000
    ) -> None:
        self._insert = insert
        self._on_lost = on_lost
        self._max_pending = max_pending
        self._start_fresh()
        _writers.add(self)

    def _start_fresh(self) -> None:
        # A forked child (an RQ job, a work process) starts empty: the parent writes the rows it holds. The child
        # starts fresh right after the fork (`os.register_at_fork`), before a thread of its own could put a row.
        self._pid = os.getpid()
        self._changed = threading.Condition()
        self._pending: deque[Row] = deque()
        self._writing = 0  # rows taken by the thread and not yet written
        self._closed = False
        self._thread: threading.Thread | None = None

    def put(self, row: Row) -> None:
        with self._changed:
            if self._closed:
                self._on_lost(1)
                return
            self._pending.append(row)
            dropped = 0
            while len(self._pending) > self._max_pending:
                self._pending.popleft()
                dropped += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        if dropped:
            self._on_lost(dropped)

    def flush(self, timeout: float = STOP_SECONDS) -> bool:
        """Wait until every row put so far is written; False if some are still waiting after `timeout`."""
        if self._pid != os.getpid():
            return True
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._writing, timeout)

    def close(self, timeout: float = STOP_SECONDS) -> None:
        """Write what is waiting (for up to `timeout`), then stop; what could not be written is counted lost."""
        if self._pid != os.getpid() or self._closed:
            return
        self.flush(timeout)
        with self._changed:
            self._closed = True
            left = len(self._pending) + self._writing
            self._pending.clear()
            self._changed.notify_all()
        if left:
            self._on_lost(left)

    def _run(self) -> None:
        failures = 0
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                batch = [self._pending.popleft() for _ in range(min(BATCH_ROWS, len(self._pending)))]
                self._writing = len(batch)
            waiting, error = self._write(batch)
            if waiting:
                with self._changed:
                    self._pending.extendleft(reversed(waiting))  # back in front, in order: retried first
                    self._writing = 0
                    count = len(self._pending)
                    self._changed.notify_all()
                if failures == 0:
                    log.error("ledger unavailable (%s); %d rows wait to be written", error, count)
                time.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
                continue
            if failures:
                log.warning("ledger reachable again; rows that waited are being written")
                failures = 0
            with self._changed:
                self._writing = 0
                self._changed.notify_all()

    def _write(self, batch: list[Row]) -> tuple[list[Row], str]:
        """Write the batch; return the rows that must wait (the database is unreachable or not ready), and why.

        A row the database refuses (a value it cannot store) must not block the rows behind it, as retrying it
        would for ever: then the batch is written row by row, and only the refused rows are dropped and counted.
        """
        try:
            self._insert(batch)
            return [], ""
        except Exception as error:
            if not refuses_the_row(error):
                return batch, type(error).__name__
        for index, row in enumerate(batch):
            try:
                self._insert([row])
            except Exception as error:
                if not refuses_the_row(error):
                    return batch[index:], type(error).__name__
                log.error(
                    "the ledger refused a row (%s); it is dropped so that the rows after it are written",
                    type(error).__name__,
                )
                self._on_lost(1)
        return [], ""


def refuses_the_row(error: Exception) -> bool:
    """Whether the error is the row's own (a value the database cannot store or a constraint it breaks), so that
    retrying it can never succeed, rather than the database's (unreachable, busy, not migrated yet: rows wait)."""
    if not isinstance(error, SQLAlchemyError):
        return True  # raised while binding the row's values (an encoding error, a type the driver rejects)
    if isinstance(error, DataError | IntegrityError):
        return True
    sqlstate = getattr(getattr(error, "orig", None), "sqlstate", None) or ""
    return sqlstate[:2] in ROW_SQLSTATE_CLASSES


def _start_fresh_after_fork() -> None:
    for writer in list(_writers):
        writer._start_fresh()


atexit.register(close_all)
os.register_at_fork(after_in_child=_start_fresh_after_fork)  # in the child's only thread, before any put
