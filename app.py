"""Entry point and command line: `python app.py [command]` (default: serve). See `python app.py --help`."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from contextlib import nullcontext
from datetime import timedelta

from bot.logs import configure_logging
from bot.settings import Settings, SettingsError, load_settings

DESCRIPTION = "A Slack bot with five ways of using a language model (summarize, chat, docs Q&A, digests, agent)."


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    command = args.command or "serve"
    # Services log JSON lines (LOG_FORMAT); one-off commands talk to a person.
    configure_logging(settings.log_level, settings.log_format if command in ("serve", "worker") else "text")
    return COMMANDS[command](settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", metavar="command")

    serve = commands.add_parser(
        "serve", help="run the bot (the default command)",
        description="Run the bot: Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP on PORT at "
                    "/slack/events (with GET /healthz), served by gunicorn.",
    )
    serve.add_argument("--port", type=int, help="HTTP port (default: PORT or 3000)")
    serve.add_argument("--workers", type=int, help="HTTP worker processes (default: WEB_CONCURRENCY or 2)")

    stats = commands.add_parser(
        "stats", help="print usage and cost per pattern",
        description="Per pattern: requests, errors, average and p95 latency, tokens, cost and cache hit rate.",
    )
    stats.add_argument("--since", default="7d", type=parse_duration,
                       help="window such as 30m, 24h or 7d (default: 7d)")

    summarize = commands.add_parser(
        "summarize", help="summarize text from the command line",
        description="Summarize TEXT (or standard input when TEXT is '-' or absent) the way /summarize does.",
    )
    summarize.add_argument("text", nargs="?", default="-", help="the text, or '-' for standard input")

    playground_parser = commands.add_parser(
        "playground", help="try every pattern in the browser against a local Slack (no credentials needed)",
        description="Start a local Slack workspace, the bot wired to it and a web page that looks like Slack, and "
                    "print its URL. This is what `python app.py` does when no Slack credentials are set.",
    )
    playground_parser.add_argument("--terminal", action="store_true",
                                   help="the terminal playground instead: type /summarize, @bot ... or messages")
    playground_parser.add_argument("--port", type=int, default=8765,
                                   help="the page's port (default: 8765, or any free one when it is taken; 0: any)")
    commands.add_parser(
        "doctor", help="check Slack, the model server, the database and Redis",
        description="Check every dependency the bot has (Slack token, model server, database, Redis) and say "
                    "what is wrong in plain words. Exits 1 when something is broken.",
    )
    ingest = commands.add_parser(
        "ingest", help="index team documents for docs questions",
        description="Index folders or files of team documents (Markdown, text, HTML, PDF) into DOCS_INDEX_DIR. "
                    "Incremental: unchanged files are skipped, changed ones re-indexed, files deleted under the "
                    "given paths removed. Unreadable files are reported and skipped.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="a folder or a file")
    ingest.add_argument("--rebuild", action="store_true",
                        help="start a new index (needed after changing the embedding model)")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON on standard output")
    ingest.add_argument("--channel", action="append", metavar="CHANNEL",
                        help="limit the files given to this channel (#name or id; repeat for several): only "
                             "questions asked there, and DMs of its members, can read them")
    ingest.add_argument("--workspace-wide", action="store_true",
                        help="make the files given readable everywhere again (files keep their visibility otherwise)")
    ingest.add_argument("--team", metavar="TEAM_ID",
                        help="the workspace the files belong to (required with OAuth installs)")

    ask = commands.add_parser(
        "ask", help="answer a question from the indexed documents",
        description="Answer QUESTION from the indexed documents, with numbered citations, the way @bot does; "
                    "says so when the documents do not contain the answer.",
    )
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true",
                     help="print JSON: answer, found, citations (source path, heading, score), what was searched")
    ask.add_argument("--channel", metavar="CHANNEL_ID",
                     help="answer as for a question asked in this channel (default: from every document)")
    ask.add_argument("--team", metavar="TEAM_ID", help="answer from this workspace's documents only")
    export = commands.add_parser(
        "export-feedback", help="write disliked answers as JSONL for evaluation",
        description="Write every answer with more 👎 than 👍 (with its prompt, retrieved passages, answer and "
                    "model) as one JSON object per line.",
    )
    export.add_argument("--since", default="30d", type=parse_duration, help="window (default: 30d)")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")

    digest = commands.add_parser(
        "digest", help="digest a channel from the command line",
        description="Digest a channel's messages and threads over a window the way /digest does, and print it "
                    "(Markdown, with links to the key messages). With --post, queue it for the workers instead; "
                    "they post it in the channel.",
    )
    digest.add_argument("--channel", required=True, help="the channel's id, e.g. C0123456789")
    digest.add_argument("--since", default="24h", help="window: 30m, 24h, 7d, 2w or a date like 2024-05-01 "
                                                      "(default: 24h)")
    digest.add_argument("--post", action="store_true", help="queue it for the workers, which post it in the channel")

    worker = commands.add_parser(
        "worker", help="run the digest workers (RQ)",
        description="Run RQ worker processes for /digest jobs, and queue the digests of due schedules. Any number "
                    "of these, on one machine or several, can share one Redis (REDIS_URL).",
    )
    worker.add_argument("--processes", type=int, help="worker processes (default: WORKER_PROCESSES or 2)")
    worker.add_argument("--burst", action="store_true", help="one process that works until the queue is empty")

    commands.add_parser("migrate", help="create or upgrade the ledger database",
                        description="Apply the database migrations to DATABASE_URL (serve does this too).")
    return parser


def parse_duration(value: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    if not match:
        raise argparse.ArgumentTypeError(f"'{value}' is not a duration like 30m, 24h, 7d or 2w")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})


# Commands -------------------------------------------------------------------------------------------------


def serve(settings: Settings, args: argparse.Namespace) -> int:
    _prepare_metrics_folder(settings)
    from bot.ledger import Ledger

    missing = [name.upper() for name in ("slack_bot_token", "slack_signing_secret") if not settings.secret(name)]
    if settings.oauth_enabled:
        missing = [name for name in missing if name != "SLACK_BOT_TOKEN"]  # tokens come from each install
    if settings.slack_app_token is None and len(missing) == 2 and args.command is None:
        print("No Slack credentials are set, so here is the playground instead (see README.md to connect Slack).",
              file=sys.stderr)
        return playground(settings, args)
    if settings.slack_app_token is None and missing:
        print(
            f"Missing setting {' and '.join(missing)}: set them to run the bot in HTTP mode (or SLACK_APP_TOKEN "
            "for Socket Mode). See README.md.",
            file=sys.stderr,
        )
        return 2
    ledger = Ledger(settings.resolved_database_url)
    ledger.migrate()
    if settings.oauth_enabled:
        from bot.installations import create_tables

        create_tables(settings, ledger.engine)
    if settings.slack_app_token is not None:
        return _serve_socket_mode(settings)
    from bot.server import serve as serve_http

    port = args.port or settings.port
    logging.getLogger(__name__).info("HTTP mode on port %d: POST /slack/events, GET /healthz", port)
    serve_http(lambda: _http_app(settings), port=port, workers=args.workers or settings.web_concurrency)
    return 0


def _prepare_metrics_folder(settings: Settings) -> None:
    """Gunicorn workers share their metrics through files; start each server with an empty folder."""
    import shutil

    folder = settings.data_dir.resolve() / f"prometheus-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _http_app(settings: Settings):  # type: ignore[no-untyped-def]
    from bot import metrics
    from bot.runtime import Services
    from bot.web import wsgi_app
    from handlers import create_app

    work = None
    if settings.work_process:  # forked first, while this worker has no threads of its own yet
        from bot.work_process import WorkProcess

        work = WorkProcess(settings, lambda: create_app(Services.build(settings, write_behind=True),
                                                        verify_requests=False)).start()
    services = Services.build(settings, write_behind=True)
    bolt_app = create_app(services)
    if work is not None:
        from bot.work_process import WorkProcessLazyRunner

        runner = bolt_app.listener_runner
        runner.lazy_listener_runner = WorkProcessLazyRunner(work, runner.lazy_listener_runner)
    application = wsgi_app(bolt_app, metrics_source=lambda: metrics.render(services.redis))
    print(f"bot ready: HTTP worker {os.getpid()}", file=sys.stderr, flush=True)
    return application


def _serve_socket_mode(settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.runtime import Services
    from handlers import create_app

    import threading

    app = create_app(Services.build(settings, write_behind=True))
    handler = SocketModeHandler(app, settings.secret("slack_app_token"))
    handler.connect()  # opens the WebSocket (via apps.connections.open on SLACK_API_URL)
    print("bot ready: Socket Mode", file=sys.stderr, flush=True)
    threading.Event().wait()  # serve until the process is stopped
    return 0


def stats(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ledger import Ledger
    from bot.stats_table import render_stats

    ledger = Ledger(settings.resolved_database_url)
    ledger.migrate()
    print(render_stats(ledger.stats(since=args.since), since=args.since))
    return 0


def summarize(settings: Settings, args: argparse.Namespace) -> int:
    from bot.metering import Meter
    from bot.runtime import Services
    from bot.gateway import ModelError
    from patterns.summarize import NothingToSummarize, summarize as summarize_text

    text = sys.stdin.read() if args.text == "-" else args.text
    services = Services.build(settings)
    services.ledger.migrate()
    meter = Meter(pattern="summarize", trigger="cli")
    try:
        summary = summarize_text(text, gateway=services.gateway, meter=meter,
                                 context_tokens=settings.model_context_tokens,
                                 max_input_tokens=settings.max_input_tokens)
    except (NothingToSummarize, ModelError) as error:
        message = error.user_message if isinstance(error, ModelError) else str(error)
        services.ledger.record(meter, status="error", error_kind=getattr(error, "kind", "error"))
        print(message, file=sys.stderr)
        return 1
    services.ledger.record(meter, status="ok")
    print(summary.for_display())
    return 0


def playground(settings: Settings, args: argparse.Namespace) -> int:
    if getattr(args, "terminal", False):
        from playground.terminal import run

        return run()
    from playground.browser import run as run_browser

    port = getattr(args, "port", None)  # absent when `python app.py` falls back to the playground
    return run_browser(port=8765 if port is None else port, commands=frozenset(COMMANDS))


def doctor(settings: Settings, args: argparse.Namespace) -> int:
    from bot.doctor import render, run_checks

    results = run_checks(settings)
    print(render(results))
    return 1 if any(r.status == "fail" for r in results) else 0


def ingest(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.commands import ingest as run

    return run(settings, args)


def ask(settings: Settings, args: argparse.Namespace) -> int:
    from knowledge.commands import ask as run

    return run(settings, args)


def export_feedback(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from bot.feedback import FeedbackStore
    from bot.ledger import Ledger

    ledger = Ledger(settings.resolved_database_url)
    ledger.migrate()
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    count = 0
    with out if out is not sys.stdout else nullcontext(out):
        for item in FeedbackStore(ledger).disliked(since=args.since):
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
            count += 1
    print(f"{count} disliked answers exported.", file=sys.stderr)
    return 0


def digest(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.cli import digest as run

    return run(settings, args)


def worker(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.cli import worker as run

    return run(settings, args)


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.ledger import Ledger

    Ledger(settings.resolved_database_url).migrate()
    print("Ledger database is up to date.")
    return 0


COMMANDS = {"serve": serve, "stats": stats, "summarize": summarize, "playground": playground, "doctor": doctor,
            "export-feedback": export_feedback,
            "migrate": migrate, "ingest": ingest, "ask": ask, "digest": digest, "worker": worker}

if __name__ == "__main__":
    sys.exit(main())
