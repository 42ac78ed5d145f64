"""`python app.py digest` and `python app.py worker`: digests for operators, and the worker processes."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from digests.timespec import TimeSpecError, parse_since, window_label

if TYPE_CHECKING:
    from bot.settings import Settings
    from patterns.digest import Progress


def add_commands(commands: argparse._SubParsersAction) -> None:
    digest = commands.add_parser(
        "digest",
        help="digest a channel from the command line",
        description="Digest a channel's messages and threads over a window the way /digest does, and print it "
        "(Markdown, with links to the key messages). With --post, queue it for the workers instead; "
        "they post it in the channel.",
    )
    digest.add_argument("--channel", required=True, help="the channel's id, e.g. C0123456789")
    digest.add_argument(
        "--since", default="24h", help="window: 30m, 24h, 7d, 2w or a date like 2024-05-01 (default: 24h)"
    )
    digest.add_argument("--post", action="store_true", help="queue it for the workers, which post it in the channel")

    digest.set_defaults(run=digest_command)

    worker = commands.add_parser(
        "worker",
        help="run the digest workers (RQ)",
        description="Run RQ worker processes for /digest jobs, and queue the digests of due schedules. Any number "
        "of these, on one machine or several, can share one Redis (REDIS_URL).",
    )
    worker.add_argument("--processes", type=int, help="worker processes (default: WORKER_PROCESSES or 2)")
    worker.add_argument("--burst", action="store_true", help="one process that works until the queue is empty")
    worker.set_defaults(run=worker_command)


def digest_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print a channel's digest (read and summarized here), or with --post queue it for the workers."""
    from slack_sdk.errors import SlackApiError

    from bot.model.gateway import ModelError
    from bot.model.metering import Meter
    from bot.slack.client import slack_client
    from bot.slack.format import slack_error_message
    from digests.delivery import Permalinks
    from digests.job import digest_channel
    from digests.reader import Window
    from digests.request import counted
    from patterns.digest import NothingToDigest
    from services import Services

    if not settings.secret("slack_bot_token"):
        print("Reading a channel needs SLACK_BOT_TOKEN.", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    try:
        start = parse_since(args.since, now=now)
    except TimeSpecError as error:
        print(error, file=sys.stderr)
        return 2
    label = window_label(args.since)
    client = slack_client(settings)
    try:
        info = client.conversations_info(channel=args.channel)["channel"]
        team = client.auth_test().get("team_id", "")
    except SlackApiError as error:
        print(slack_error_message(error.response.get("error", "unknown")), file=sys.stderr)
        return 1
    if not info.get("is_member") and not info.get("is_im"):
        print(f"The bot is not in #{info.get('name', args.channel)}; invite it first.", file=sys.stderr)
        return 1
    services = Services.build(settings)
    services.ledger.migrate()
    if args.post:
        return _queue(
            settings,
            services,
            client,
            team=team,
            channel=args.channel,
            name=info.get("name", ""),
            start=start,
            now=now,
            label=label,
        )
    meter = Meter(workspace=team, channel=args.channel, pattern="digest", trigger="cli", request_id="cli")

    def progress(state: Progress) -> None:
        total = f"/{state.parts_total}" if state.parts_total else ""
        print(
            f"\r{counted(state.messages_read, 'message')} read, {state.parts_done}{total} parts summarized",
            end="",
            file=sys.stderr,
            flush=True,
        )

    try:
        result = digest_channel(
            services,
            client,
            team=team,
            channel=args.channel,
            window=Window(start.timestamp(), now.timestamp()),
            meter=meter,
            on_progress=progress,
        )
    except NothingToDigest:
        services.ledger.record(meter, status="refused", error_kind="empty_window")
        print(f"No messages from people in #{info.get('name', args.channel)} in {label}.", file=sys.stderr)
        return 1
    except (ModelError, SlackApiError) as error:
        kind = error.kind if isinstance(error, ModelError) else f"slack_{error.response.get('error')}"
        services.ledger.record(meter, status="error", error_kind=kind)
        print("", file=sys.stderr)
        print(
            error.user_message
            if isinstance(error, ModelError)
            else slack_error_message(error.response.get("error", "unknown")),
            file=sys.stderr,
        )
        return 1
    print("", file=sys.stderr)
    services.ledger.record(meter, status="ok")
    print(f"# Digest of #{info.get('name', args.channel)} for {label}\n")
    print(
        f"{counted(result.messages, 'message')}, {counted(result.threads, 'thread')}, "
        f"{counted(meter.model_calls, 'model call')}, "
        f"{meter.prompt_tokens + meter.completion_tokens:,} tokens\n"
    )
    links = Permalinks(client, args.channel)
    links.prefetch(result.key_lines())
    print(result.to_markdown(links))
    return 0


def _queue(
    settings: Settings,
    services,
    client,
    *,
    team: str,
    channel: str,
    name: str,  # type: ignore[no-untyped-def]
    start: datetime,
    now: datetime,
    label: str,
) -> int:
    from bot.storage.digest_journal import DigestJournal
    from digests.queue import digest_queue
    from digests.submit import submit

    if services.redis is None:
        print("--post hands the digest to the workers, which needs REDIS_URL.", file=sys.stderr)
        return 2
    request = submit(
        client,
        services.redis,
        digest_queue(services.redis, settings),
        settings,
        journal=DigestJournal(services.ledger.engine),
        workspace=team,
        channel=channel,
        channel_name=name,
        user="",
        oldest=start.timestamp(),
        latest=now.timestamp(),
        window_label=label,
        to_dm=False,
        trigger="cli",
    )
    print(f"Queued digest {request.job_id} of #{name} for {label}; the workers post it in the channel.")
    return 0


def worker_command(settings: Settings, args: argparse.Namespace) -> int:
    from digests.worker import run, work

    if args.burst:
        if not settings.redis_url:
            print("Digest workers need REDIS_URL: the queue they share lives in Redis.", file=sys.stderr)
            return 2
        work(settings, burst=True)
        return 0
    return run(settings, args.processes)
