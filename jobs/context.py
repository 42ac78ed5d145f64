"""The services a job needs, built once per process from the environment.

RQ runs each job in a forked child. Database and HTTP connections must not be shared across a fork, so the
services are rebuilt when the process id changes; the parent's objects are kept referenced (never closed or
garbage-collected in the child), so the child cannot close connections the parent still uses.
"""

from __future__ import annotations

import os
import threading

from bot.runtime import Services
from bot.settings import load_settings

_lock = threading.Lock()
_built: dict[int, Services] = {}


def services() -> Services:
    pid = os.getpid()
    with _lock:
        if pid not in _built:
            _built[pid] = Services.build(load_settings())
        return _built[pid]
