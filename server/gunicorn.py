"""HTTP mode on gunicorn (a production WSGI server), embedded so `python app.py serve` is all it takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.metrics import mark_process_dead
from server.routes import WsgiApp


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """Each worker process builds its own app (`load` runs after the fork): no shared sockets or threads."""

    def __init__(self, app_factory: Callable[[], WsgiApp], options: dict[str, Any]) -> None:
        self.app_factory = app_factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        return self.app_factory()


def serve(
    app_factory: Callable[[], WsgiApp],
    *,
    port: int,
    workers: int,
    threads: int = 64,
    host: str = "0.0.0.0",
    metrics_port: int | None = None,
) -> None:
    GunicornServer(
        app_factory,
        {
            "bind": [f"{host}:{port}"] + ([f"{host}:{metrics_port}"] if metrics_port else []),
            "workers": workers,
            "worker_class": "gthread",
            "threads": threads,
            "timeout": 60,
            "graceful_timeout": 20,
            "keepalive": 5,
            "backlog": 2048,
            "child_exit": lambda server, worker: mark_process_dead(worker.pid),
        },
    ).run()
