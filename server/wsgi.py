"""The WSGI application of one gunicorn worker: the Bolt app, its work process, and the routes around it."""

from __future__ import annotations

import os
import sys

from bot import metrics
from bot.settings import Settings
from handlers import create_app
from server.routes import MetricsAccess, wsgi_app
from server.work_process import WorkProcess, WorkProcessLazyRunner
from services import Services


def build_wsgi_app(settings: Settings):  # type: ignore[no-untyped-def]
    work = None
    if settings.work_process:  # forked first, while this worker has no threads of its own yet
        work = WorkProcess(
            settings, lambda: create_app(Services.build(settings, write_behind=True), verify_requests=False)
        ).start()
    services = Services.build(settings, write_behind=True)
    bolt_app = create_app(services)
    if work is not None:
        runner = bolt_app.listener_runner
        runner.lazy_listener_runner = WorkProcessLazyRunner(work, runner.lazy_listener_runner)
    application = wsgi_app(
        bolt_app,
        metrics_source=lambda: metrics.render(services.redis),
        metrics_access=MetricsAccess(settings.metrics_port, settings.secret("metrics_token")),
    )
    print(f"bot ready: HTTP worker {os.getpid()}", file=sys.stderr, flush=True)
    return application
