"""The services a job needs, built once per worker process from the environment, before it forks jobs.

RQ runs each job in a child forked from the worker process. The child reuses the worker's services, so a job
starts without rebuilding clients (the model client alone takes a noticeable fraction of a second), except what
must not cross a fork: the database pool is dropped without closing the parent's connections (SQLAlchemy's
`dispose(close=False)`), and Redis clients reconnect by themselves in a new process. The worker process itself
never calls the model, so the model client's connection pool is still empty when it is inherited.
"""

from __future__ import annotations

import os
import threading

from bot.settings import load_settings
from services import Services

_lock = threading.Lock()
_services: Services | None = None
_pid: int | None = None


def services() -> Services:
    global _services, _pid
    with _lock:
        if _services is None:
            _services, _pid = Services.build(load_settings()), os.getpid()
        elif _pid != os.getpid():
            _services.ledger.engine.dispose(close=False)
            _pid = os.getpid()
        return _services
