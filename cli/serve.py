"""`python app.py serve` (the default): the bot over HTTP (gunicorn) or Socket Mode; the playground without Slack."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the bot (the default command)",
        description="Run the bot: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP on PORT at "
        "/slack/events (with GET /healthz), served by gunicorn.",
    )
    serve.add_argument("--port", type=int, help="HTTP port (default: PORT or 3000)")
    serve.add_argument("--workers", type=int, help="HTTP worker processes (default: WEB_CONCURRENCY or 2)")
    serve.set_defaults(run=run)


def default(settings: Settings) -> int:
    """`python app.py` with no command: the bot, or the playground when no Slack credentials are set."""
    if (
        settings.slack_app_token is None
        and not settings.oauth_enabled
        and not any(settings.secret(name) for name in ("slack_bot_token", "slack_signing_secret"))
    ):
        print(
            "No Slack credentials are set, so here is the playground instead (see README.md to connect Slack).",
            file=sys.stderr,
        )
        from cli.playground import run as playground

        return playground(settings, argparse.Namespace(port=None))
    return run(settings, argparse.Namespace(port=None, workers=None))


def run(settings: Settings, args: argparse.Namespace) -> int:
    missing = [name.upper() for name in ("slack_bot_token", "slack_signing_secret") if not settings.secret(name)]
    if settings.oauth_enabled:
        missing = [name for name in missing if name != "SLACK_BOT_TOKEN"]  # tokens come from each install
    if settings.slack_app_token is None and missing:
        print(
            f"Missing setting {' and '.join(missing)}: set them to run the bot in HTTP mode (or SLACK_APP_TOKEN "
            "for Socket Mode). See README.md.",
            file=sys.stderr,
        )
        return 2
    from bot.storage.ledger import Ledger
    from server.gunicorn import serve as serve_http
    from server.wsgi import build_wsgi_app

    _prepare_metrics_folder(settings)
    ledger = Ledger(settings.resolved_database_url)
    ledger.migrate()
    if settings.oauth_enabled:
        from bot.slack.installations import create_tables

        create_tables(settings, ledger.engine)
    if settings.slack_app_token is not None:
        from server.socket_mode import serve_socket_mode

        return serve_socket_mode(settings)

    port = args.port or settings.port
    log.info("HTTP mode on %s port %d: POST /slack/events, GET /healthz", settings.bind_address, port)
    serve_http(
        lambda: build_wsgi_app(settings),
        port=port,
        workers=args.workers or settings.web_concurrency,
        host=settings.bind_address,
        metrics_port=settings.metrics_port,
    )
    return 0


def _prepare_metrics_folder(settings: Settings) -> None:
    """Gunicorn workers share their metrics through files; start each server with an empty folder, removed when
    the server exits (and, for a server that was killed, by the next one to start)."""
    from prometheus_client import values

    folder = settings.data_dir.resolve() / f"prometheus-{os.getpid()}"
    _remove_stale_metrics_folders(settings.data_dir.resolve())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pid = os.getpid()
    atexit.register(lambda: os.getpid() == pid and shutil.rmtree(folder, ignore_errors=True))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    # prometheus_client chooses its storage when first imported, which may have happened already; metrics are
    # created on first use (`bot.metrics`), so choosing again now gives them the shared folder.
    values.ValueClass = values.get_value_class()


def _remove_stale_metrics_folders(data_dir: Path) -> None:
    """The metrics folders of servers that are no longer running."""
    for folder in data_dir.glob("prometheus-*"):
        pid = folder.name.removeprefix("prometheus-")
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
