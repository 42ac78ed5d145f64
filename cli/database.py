"""`python app.py stats | export-feedback | migrate`: what the ledger database knows, and its schema."""

from __future__ import annotations

import argparse
import json
import re
import sys
from contextlib import nullcontext
from datetime import timedelta

from bot.settings import Settings
from bot.storage.feedback import FeedbackStore
from bot.storage.ledger import Ledger
from cli.stats_table import render_stats


def parse_duration(value: str) -> timedelta:
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", value)
    if not match:
        raise argparse.ArgumentTypeError(f"'{value}' is not a duration like 30m, 24h, 7d or 2w")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})


def add_commands(commands: argparse._SubParsersAction) -> None:
    stats_parser = commands.add_parser(
        "stats",
        help="print usage and cost per pattern",
        description="Per pattern: requests, errors, average and p95 latency, tokens, cost and cache hit rate.",
    )
    stats_parser.add_argument(
        "--since", default="7d", type=parse_duration, help="window such as 30m, 24h or 7d (default: 7d)"
    )
    stats_parser.set_defaults(run=stats)
    export = commands.add_parser(
        "export-feedback",
        help="write disliked answers as JSONL for evaluation",
        description="Write every answer with more 👎 than 👍 (with its prompt, retrieved passages, answer and "
        "model) as one JSON object per line.",
    )
    export.add_argument("--since", default="30d", type=parse_duration, help="window (default: 30d)")
    export.add_argument("--output", "-o", default="-", help="file to write (default: standard output)")
    export.set_defaults(run=export_feedback)
    commands.add_parser(
        "migrate",
        help="create or upgrade the ledger database",
        description="Apply the database migrations to DATABASE_URL (serve does this too).",
    ).set_defaults(run=migrate)


def stats(settings: Settings, args: argparse.Namespace) -> int:
    ledger = Ledger(settings.resolved_database_url)
    ledger.migrate()
    print(render_stats(ledger.stats(since=args.since), since=args.since))
    return 0


def export_feedback(settings: Settings, args: argparse.Namespace) -> int:
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


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    Ledger(settings.resolved_database_url).migrate()
    print("Ledger database is up to date.")
    return 0
