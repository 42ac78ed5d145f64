"""Ack latency of `/summarize` under 50 concurrent requests while the model takes 2 s per answer.

Runs the bot as deployed (`app.py serve`: gunicorn, 2 worker processes) against the local Slack and model
servers, fires rounds of 50 simultaneous signed slash commands, and measures how long each HTTP ack takes.
It also checks that every request was answered (placeholder edited into a summary). The ledger is PostgreSQL,
as in production (`--database-url` to change it; SQLite shared by several processes serialises its writes).

The ledger tables live in a PostgreSQL schema of the run's own, dropped afterwards.

Goal: ack p99 under 100 ms. Last line: JSON with `ack_p50_ms` and `ack_p99_ms`.

`--quick` sends one warm-up round and one counted round of 10 requests with a model taking 0.2 s, through the same
deployed bot, so CI can run the bench in seconds; its figures say nothing of the goal.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger_schema import ledger_schema  # noqa: E402
from doubles.bot_process import BotProcess  # noqa: E402
from doubles.load import burst, http_request  # noqa: E402
from doubles.model_server import ModelServer  # noqa: E402
from doubles.slack import SlackServer  # noqa: E402

SECRET = "bench-signing-secret"
DEFAULT_DATABASE = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TEXT = (
    "Request {n}: the quarterly planning meeting agreed to move the billing migration to March, hire two "
    "engineers for the search team, and review the on-call rotation after the holidays. Open question: "
    "who owns the data retention policy update that legal asked for last week?"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def fire(bot_url: str, first: int, count: int) -> list[tuple[int, float]]:
    """Send `count` simultaneous slash commands from this (separate) process; return (status, ack ms) pairs.

    The load generator runs in its own process so it does not share an interpreter lock with the local Slack
    and model servers, whose work would otherwise show up as ack latency.
    """
    requests = [
        http_request(
            bot_url,
            urlencode(
                {
                    "token": "x",
                    "team_id": "T1",
                    "team_domain": "bench",
                    "channel_id": "C1",
                    "channel_name": "general",
                    "user_id": "U1",
                    "user_name": "alice",
                    "command": "/summarize",
                    "text": TEXT.format(n=i),
                    "api_app_id": "A1",
                    "response_url": "https://hooks.slack.com/commands/T1/1/x",
                    "trigger_id": f"{i}.1.bench",
                }
            ).encode(),
            "application/x-www-form-urlencoded",
            SECRET,
        )
        for i in range(first, first + count)
    ]
    return burst(bot_url, requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--model-latency", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup-rounds", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE,
        help="ledger database (default: the local PostgreSQL test database, as deployed)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="one round of 10 requests, model 0.2 s: checks that the bench runs (CI), not the goal",
    )
    args = parser.parse_args()
    if args.quick:
        args.concurrency, args.rounds, args.warmup_rounds, args.model_latency = 10, 1, 1, 0.2

    with (
        SlackServer(token="xoxb-bench") as slack,
        ModelServer(latency=args.model_latency) as model,
        tempfile.TemporaryDirectory() as data,
        ledger_schema(args.database_url, "ack") as database_url,
    ):
        slack.add_user("U1", "alice")
        slack.add_channel("C1", "general")
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-bench",
            "DATA_DIR": data,
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
        }
        with BotProcess(env, workers=args.workers) as bot:
            acks: list[float] = []
            failures = 0
            n = 0
            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as generator:
                for round_number in range(-args.warmup_rounds, args.rounds):
                    updates_before = len(slack.calls_to("chat.update"))
                    batch = generator.submit(fire, bot.url, n, args.concurrency).result()
                    n += args.concurrency
                    label = "warm-up round" if round_number < 0 else "round"
                    print(
                        f"{label} of {len(batch)}: ack p50 {statistics.median([e for _, e in batch]):.0f} ms, "
                        f"max {max(e for _, e in batch):.0f} ms",
                        flush=True,
                    )
                    if round_number >= 0:  # warm-up rounds start the threads and connections; not counted
                        acks += [elapsed for _, elapsed in batch]
                        failures += sum(status != 200 for status, _ in batch)
                    # Next round once every answer of this one is in (keeps the 50-concurrent shape).
                    expected = updates_before + args.concurrency
                    slack.wait_for(
                        lambda expected=expected: len(slack.calls_to("chat.update")) >= expected, timeout=120
                    )
            wall = time.perf_counter() - started
            answered = sum(1 for c in slack.calls_to("chat.update") if "Summary for" in c.params.get("text", ""))

    figures = {
        "requests": len(acks),
        "sent_with_warmup": n,
        "concurrency": args.concurrency,
        "model_latency_s": args.model_latency,
        "http_workers": args.workers,
        "ack_p50_ms": round(statistics.median(acks), 1),
        "ack_p99_ms": round(percentile(acks, 0.99), 1),
        "ack_max_ms": round(max(acks), 1),
        "non_200_acks": failures,
        "answered": answered,  # including warm-up
        "ledger": args.database_url.split(":")[0] or "sqlite",
        "wall_s": round(wall, 1),
        "model_peak_concurrency": model.max_in_flight,
    }
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    print(json.dumps({"ack_p50_ms": figures["ack_p50_ms"], "ack_p99_ms": figures["ack_p99_ms"], **figures}))


if __name__ == "__main__":
    main()
