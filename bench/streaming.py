"""Concurrent streamed answers against Slack's published rate limits.

For N = 1, 10 and 50 simultaneous `@bot` questions (each in its own channel, all in one workspace), the bot
(gunicorn, 2 workers, shared Redis budget) streams a model answer of about six seconds into Slack. The local
Slack server enforces the per-workspace tier limits (chat.update 50/min, chat.appendStream 100/min,
chat.startStream and chat.stopStream 20/min) and answers 429 beyond them.

Printed per N: 429s received, updates per stream per minute, time from the model's first token to the first
visible text (p50/p99), and whether every final message equals the model output. Last line: JSON with the last
N's figures, `n50_429s`, `n50_first_text_p99_ms` and `n50_updates_per_stream_min` (named `n<N>_...` for a last N
other than 50), and `all_final_exact`.

`--cpu-hog N` runs N busy processes beside it (a machine under CPU load); the JSON line has the 429s of all runs
(`429s`) and the number of hogs.

`--quick` runs N = 1 and 5 with answers of about 1.2 s (so its figures are `n5_...`), so CI can run the bench in
seconds. 50 streams cannot be quick: Slack's edit limits alone spread their final edits over minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from bench.ledger_schema import ledger_schema  # noqa: E402
from bot.slack.mrkdwn import to_mrkdwn  # noqa: E402
from bot.slack.rate_budget import SLACK_LIMITS_PER_MINUTE  # noqa: E402
from bot.slack.streaming import CURSOR, THINKING  # noqa: E402
from doubles.bot_process import BotProcess  # noqa: E402
from doubles.model_server import ModelServer, Reply  # noqa: E402
from doubles.slack import SlackServer  # noqa: E402
from doubles.slack_sender import SlackSender  # noqa: E402

SECRET = "bench-signing-secret"
ANSWER = (
    "**Summary of the discussion.** "
    + "The team agreed on the plan and listed the next steps clearly. " * 12
    + "\n\n- First step: ship the fix\n- Second step: tell support\n"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run(
    n: int, slack: SlackServer, model: ModelServer, sender: SlackSender, timeout: float, token_delay: float
) -> dict:
    slack.reset()
    for method, per_minute in SLACK_LIMITS_PER_MINUTE.items():
        slack.set_rate_limit(method, per_minute)
    model.reset()
    model.token_delay = token_delay  # 0.15 s: about 6 s per answer
    model.responder = lambda request: Reply(text=ANSWER)
    channels = [f"CN{n}X{i}" for i in range(n)]
    for channel in channels:
        slack.add_channel(channel, channel.lower())
    started = time.monotonic()
    for i, channel in enumerate(channels):
        sender.mention(f"question {i} for run {n}", channel=channel, ts=f"1720000000.{i:06d}")

    expected = to_mrkdwn(ANSWER)

    def finished() -> bool:
        done = 0
        for i, channel in enumerate(channels):
            replies = [m for m in slack.replies(channel, f"1720000000.{i:06d}") if m.get("bot_id")]
            done += bool(replies) and not replies[0]["text"].endswith(CURSOR) and replies[0]["text"] != THINKING
        return done == n

    slack.wait_for(finished, timeout=timeout, poll=0.25)
    wall = time.monotonic() - started

    first_text_ms, updates_per_min, exact, thinking_first = [], [], 0, []
    model_calls = model.calls_to("/chat/completions")
    for i, channel in enumerate(channels):
        reply = [m for m in slack.replies(channel, f"1720000000.{i:06d}") if m.get("bot_id")][0]
        exact += reply["text"] == expected
        call = next(c for c in model_calls if f"question {i} for run {n}" in c.body["messages"][-1]["content"])
        updates = [
            c
            for c in slack.calls_to("chat.update")
            if c.params.get("channel") == channel and c.status == 200 and c.response.get("ok")
        ]
        posts = [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]
        post = posts[0]
        visible = sorted(
            (c for c in posts + updates if c.params.get("text") not in (THINKING, None)), key=lambda c: c.at
        )
        if visible:
            first_text_ms.append((visible[0].at - call.at) * 1000)
            if post.params.get("text") == THINKING:
                thinking_first.append(round(first_text_ms[-1]))
        duration_min = max((updates[-1].at if updates else post.at) - post.at, 1.0) / 60
        updates_per_min.append(len(updates) / duration_min)
    return {
        "n": n,
        "wall_s": round(wall, 1),
        "429s": slack.ratelimited_count,
        "updates_per_stream_min": round(sum(updates_per_min) / n, 1),
        "first_text_p50_ms": round(percentile(first_text_ms, 0.5)),
        "first_text_p99_ms": round(percentile(first_text_ms, 0.99)),
        "final_exact": f"{exact}/{n}",
        "all_final_exact": exact == n,
        "model_peak_concurrency": model.max_in_flight,
        "thinking_first_ms": sorted(thinking_first),  # replies that showed "Thinking…" first: their first text
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--token-delay", type=float, default=0.15, help="seconds between streamed model tokens")
    parser.add_argument(
        "--cpu-hog",
        type=int,
        default=0,
        metavar="N",
        help="run N busy processes beside the bench (the machine under CPU load, where granted calls arrive late)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="N = 1 and 5, answers of about 1.2 s: checks that the bench runs (CI)"
    )
    args = parser.parse_args()
    if args.quick:
        args.n, args.token_delay = [1, 5], 0.03
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    redis.Redis.from_url(redis_url).flushdb()
    results = []
    hogs: list[subprocess.Popen] = []
    database = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    with (
        SlackServer(token="xoxb-bench") as slack,
        ModelServer() as model,
        ledger_schema(database, "streaming") as database_url,
    ):
        slack.add_user("U1", "alice")
        env = {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-bench",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            "SLACK_STREAMING": "edits",  # this bench measures the edits transport
        }
        try:
            with BotProcess(env, workers=2) as bot:
                sender = SlackSender(bot.url, SECRET)
                # Busy processes at the bot's priority, started once the bot is up.
                hogs.extend(subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.cpu_hog))
                for n in args.n:
                    result = run(n, slack, model, sender, args.timeout, args.token_delay)
                    results.append(result)
                    print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    last = results[-1]
    print(
        json.dumps(
            {
                f"n{last['n']}_429s": last["429s"],
                f"n{last['n']}_first_text_p99_ms": last["first_text_p99_ms"],
                f"n{last['n']}_updates_per_stream_min": last["updates_per_stream_min"],
                "429s": sum(r["429s"] for r in results),
                "cpu_hogs": args.cpu_hog,
                "all_final_exact": all(r["all_final_exact"] for r in results),
                "runs": results,
            }
        )
    )


if __name__ == "__main__":
    main()
