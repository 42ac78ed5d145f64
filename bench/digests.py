"""Digests of channels of 1k and 10k messages (with threads) against a model server that takes 200 ms a call.

Runs as deployed: a real worker process (`app.py worker`) on Redis takes the job, queued the way `/digest` queues
it; it pages through the local Slack server's history and thread replies and map-reduces the channel with
DIGEST_MODEL_CONCURRENCY model calls at once (MODEL_CONTEXT_TOKENS at its default, 16,000).

Printed per channel:
- wall time, from queuing the job to the digest replacing its progress message (reading Slack included), against
  the ideal. The ideal is model-bound: the time the digest's own model calls would take if nothing else cost
  anything, at the configured concurrency C, with each merge level waiting for the level before it:
  ideal = (ceil(map calls / C) + sum over merge levels of ceil(merge calls / C)) x 200 ms.
  Queuing, reading Slack and posting count as zero in it;
- where the wall time went: queued to the first Slack read, reading Slack (the map calls run meanwhile), the last
  read to the last model answer (the map calls still queued, then the merge: at least the last part's map call
  and the merge, 2 x 200 ms), and the digest being posted; the machine's load average, since everything but the
  model's 200 ms is CPU on this machine;
- the map-reduce alone, on threads already read, against its own ideal;
- model calls and tokens per 1k messages, for the digest and for the naive loop of one model call per message.
  The naive loop's tokens are counted exactly with the model server's rules (the same instructions, the message,
  and the answer the same scripted model gives to it) for every message; its wall time is measured on a sample of
  naive calls at the same concurrency and extrapolated (running 10,000 calls at 200 ms would take minutes).

The stand-in Slack and model servers run in this process; it freezes its heap once a channel is seeded, so that a
garbage collection of the seeded messages cannot stall them mid-run (the job freezes its own heap too).

Slack's history methods allow about 50 calls a minute per workspace; at that pace a 10k-message channel with
hundreds of threads takes minutes to read whatever the model does. The bench raises SLACK_HISTORY_PER_MINUTE so
it measures the digest machinery; it says so in its output.

Goal: at least 5x fewer tokens than naive and within 1.3x of the ideal wall time. Last line: JSON with
`token_ratio_vs_naive` and `wall_vs_ideal` for the last channel (the 10k one).

`--quick` digests the 1k channel only (map calls and a merge, through the same worker, in seconds), so CI can run
the bench; its wall time against the ideal says little on a busy machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402

from bot.model.gateway import Gateway  # noqa: E402
from bot.model.metering import Meter  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.slack.client import slack_client  # noqa: E402
from bot.storage.digest_journal import DigestJournal  # noqa: E402
from bot.storage.ledger import Ledger  # noqa: E402
from digests.queue import digest_queue  # noqa: E402
from digests.submit import submit  # noqa: E402
from digests.worker import _warm_up  # noqa: E402
from doubles.digest_responder import digest_responder, summarize_part  # noqa: E402
from doubles.model_server import TOKENS_PER_MESSAGE, ModelServer, count_tokens  # noqa: E402
from doubles.slack import SlackServer  # noqa: E402
from doubles.worker_process import WorkerProcess  # noqa: E402
from patterns.digest import MAP_PROMPT, ChatLine, Thread, digest  # noqa: E402

LATENCY = 0.2
CONCURRENCY = 4
TOKEN = "xoxb-bench-digest"
PEOPLE = ["alice", "bob", "carol", "dan", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar"]
TOPICS = [
    "billing migration",
    "search relevance",
    "mobile release",
    "checkout bug",
    "on-call rotation",
    "data retention policy",
    "invoice export",
    "SSO rollout",
    "latency dashboard",
    "Q3 roadmap",
]
OPENERS = ["Quick update on the {t}:", "About the {t},", "Re {t}:", "For the {t}", "Heads up on the {t}:"]
BODIES = [
    "the staging deploy went fine and the numbers look normal so far",
    "we still see a few timeouts during the nightly batch but nothing user facing",
    "I pushed a fix for the edge case with empty carts and added a regression test",
    "the design review is moved to Thursday afternoon because half the team is out",
    "legal sent comments on the draft and most of them are small wording changes",
    "the vendor confirmed the new limits and we can raise the batch size next week",
    "I measured again after the cache change and p95 went down by about a third",
    "support reported two more tickets that look like the same root cause",
]
DECISIONS = [
    "We decided to ship it behind a flag first.",
    "Agreed: we keep the old path for one more week.",
    "We decided to postpone the migration until after the freeze.",
]
QUESTIONS = [
    "Who owns the follow-up with the vendor?",
    "Can someone review the PR today?",
    "Do we need a migration guide for customers?",
    "Is the rollback plan written down somewhere?",
]


def message_text(rng: random.Random) -> str:
    text = f"{rng.choice(OPENERS).format(t=rng.choice(TOPICS))} {rng.choice(BODIES)}."
    roll = rng.random()
    if roll < 0.08:
        text += " " + rng.choice(DECISIONS)
    elif roll < 0.18:
        text += " " + rng.choice(QUESTIONS)
    elif roll < 0.24:
        text += f" I'm waiting on {rng.choice(PEOPLE)} for the final numbers."
    return text


def seed_channel(slack: SlackServer, channel: str, total: int, rng: random.Random) -> list[ChatLine]:
    """`total` messages: top-level ones, about one in ten starting a thread of two to six replies."""
    slack.add_channel(channel, channel.lower())
    lines: list[ChatLine] = []
    while len(lines) < total:
        author = rng.randrange(len(PEOPLE))
        text = message_text(rng)
        ts = slack.post(channel, text, user=f"UB{author:02d}")
        lines.append(ChatLine(f"m{len(lines) + 1}", ts, PEOPLE[author], text))
        if rng.random() < 0.1:
            for _ in range(min(rng.randint(2, 6), total - len(lines))):
                replier = rng.randrange(len(PEOPLE))
                reply = message_text(rng)
                reply_ts = slack.post(channel, reply, user=f"UB{replier:02d}", thread_ts=ts)
                lines.append(ChatLine(f"m{len(lines) + 1}", reply_ts, PEOPLE[replier], reply, thread_ts=ts))
    return lines


def naive_tokens(lines: list[ChatLine]) -> tuple[int, int]:
    """Exact prompt and completion tokens of one call per message with the same instructions and model."""
    system = count_tokens(MAP_PROMPT) + TOKENS_PER_MESSAGE
    prompt = completion = 0
    for line in lines:
        text = line.render()
        prompt += system + count_tokens(text) + TOKENS_PER_MESSAGE
        completion += count_tokens(json.dumps(summarize_part(text)))
    return prompt, completion


def naive_round_seconds(settings, lines: list[ChatLine], sample: int) -> float:  # type: ignore[no-untyped-def]
    """Seconds per round of `CONCURRENCY` naive calls, measured on `sample` real calls through the gateway."""
    gateway = Gateway(settings)
    meter = Meter()

    def call(line: ChatLine) -> None:
        gateway.chat(
            [{"role": "system", "content": MAP_PROMPT}, {"role": "user", "content": line.render()}],
            pattern="digest",
            meter=meter,
            temperature=0.0,
            max_tokens=200,
            task="summarize",
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        list(pool.map(call, lines[:sample]))
    return (time.monotonic() - started) / math.ceil(sample / CONCURRENCY)


def mapreduce_alone(
    settings,
    model: ModelServer,  # type: ignore[no-untyped-def]
    lines: list[ChatLine],
) -> tuple[float, float]:
    """The map-reduce on its own, on threads already read (newest first, as a reader yields them)."""
    threads: dict[str, Thread] = {}
    for line in lines:
        if line.thread_ts is None:
            threads[line.ts] = Thread(parent=line)
        else:
            threads[line.thread_ts].replies.append(line)
    gateway = Gateway(settings)
    model.reset()
    model.responder = digest_responder
    started = time.monotonic()
    digest(
        reversed(list(threads.values())),
        gateway=gateway,
        meter=Meter(),
        context_tokens=settings.model_context_tokens,
        concurrency=CONCURRENCY,
    )
    wall = time.monotonic() - started
    return wall, ideal_seconds(model)[0]


def ideal_seconds(model: ModelServer) -> tuple[float, int, list[int]]:
    """The model-bound lower bound: map calls, then each merge level, in rounds of CONCURRENCY calls."""
    calls = sorted(model.calls_to("/chat/completions"), key=lambda c: c.at)
    maps = [c for c in calls if not c.body["messages"][0]["content"].startswith("You merge")]
    merges = [c for c in calls if c.body["messages"][0]["content"].startswith("You merge")]
    levels: list[int] = []
    inputs, taken, consumed = len(maps), 0, 0
    for call in merges:  # a level's merges consume all outputs of the level before it
        consumed += call.body["messages"][-1]["content"].count("\nPart ") + 1
        taken += 1
        if consumed >= inputs:
            levels.append(taken)
            inputs, taken, consumed = taken, 0, 0
    rounds = math.ceil(len(maps) / CONCURRENCY) + sum(math.ceil(n / CONCURRENCY) for n in levels)
    return rounds * LATENCY, len(maps), levels


def run(
    size: int,
    slack: SlackServer,
    model: ModelServer,
    settings,
    connection,  # type: ignore[no-untyped-def]
    journal: DigestJournal,
    rng: random.Random,
    timeout: float,
) -> dict:
    channel = f"CBENCH{size}"
    slack.set_clock(time.time() - 20 * 3_600)
    lines = seed_channel(slack, channel, size, rng)
    slack.set_clock(time.time() - 60)
    # This process hosts the stand-in Slack and model servers: a collector pass over the channel just seeded would
    # stall them mid-run (about 0.2 s), a cost of the stand-ins, not of the digest (the job freezes its own heap).
    gc.freeze()
    model.reset()
    model.responder = digest_responder
    client = slack_client(settings)
    now = time.time()
    started = time.monotonic()
    request = submit(
        client,
        connection,
        digest_queue(connection, settings),
        settings,
        journal=journal,
        workspace="T111",
        channel=channel,
        channel_name=channel.lower(),
        user="UB00",
        oldest=now - 86_400,
        latest=now,
        window_label="the last 24 hours",
        to_dm=False,
        trigger="cli",
    )
    message = slack.wait_for(
        lambda: (m := slack.message(channel, request.progress_ts)) and m["text"].startswith("*Digest") and m,
        timeout=timeout,
        poll=0.05,
    )
    final_edit = max(c.at for c in slack.calls_to("chat.update") if c.params.get("ts") == request.progress_ts)
    wall = final_edit - started  # when the server received the digest, not when this loop noticed
    load = os.getloadavg()[0]
    reads = [
        c
        for c in slack.calls
        if c.method in ("conversations.history", "conversations.replies")
        and c.params.get("channel") == channel
        and c.at >= started
    ]
    read_times = [c.at for c in reads]
    ideal, map_calls, levels = ideal_seconds(model)
    map_rounds = math.ceil(map_calls / CONCURRENCY)
    merge_rounds = sum(math.ceil(n / CONCURRENCY) for n in levels)
    calls = model.calls_to("/chat/completions")
    model_phase = max(c.at for c in calls) - (min(c.at for c in calls) - LATENCY)
    peak = model.max_in_flight
    tokens = sum(c.usage["prompt_tokens"] + c.usage["completion_tokens"] for c in calls)
    alone_wall, alone_ideal = mapreduce_alone(settings, model, lines)
    naive_prompt, naive_completion = naive_tokens(lines)
    naive_round = naive_round_seconds(settings, lines, sample=4 * CONCURRENCY)
    naive_wall = math.ceil(len(lines) / CONCURRENCY) * naive_round
    per_k = 1000 / len(lines)
    result = {
        "messages": len(lines),
        "replies": sum(1 for line in lines if line.thread_ts),
        "slack_history_calls": sum(1 for c in reads if c.method == "conversations.history"),
        "slack_replies_calls": sum(1 for c in reads if c.method == "conversations.replies"),
        "wall_s": round(wall, 2),
        "ideal_s": round(ideal, 2),
        "wall_vs_ideal": round(wall / ideal, 2),
        "mapreduce_alone_s": round(alone_wall, 2),
        "mapreduce_alone_ideal_s": round(alone_ideal, 2),
        "mapreduce_alone_vs_ideal": round(alone_wall / alone_ideal, 2),
        "before_reading_s": round(min(read_times) - started, 2),
        "reading_s": round(max(read_times) - min(read_times), 2),
        "after_reading_s": round(max(c.at for c in calls) - max(read_times), 2),
        "posting_s": round(final_edit - max(c.at for c in calls), 2),
        "load_average": round(load, 1),
        "model_phase_s": round(model_phase, 2),
        "model_phase_vs_ideal": round(model_phase / ideal, 2),
        "map_calls": map_calls,
        "merge_levels": levels,
        "ideal_rounds": [map_rounds, merge_rounds],
        "model_peak_concurrency": peak,
        "calls_per_1k": round(len(calls) * per_k, 1),
        "tokens_per_1k": round(tokens * per_k),
        "naive_calls_per_1k": 1000,
        "naive_tokens_per_1k": round((naive_prompt + naive_completion) * per_k),
        "naive_wall_s_estimated": round(naive_wall, 1),
        "token_ratio_vs_naive": round((naive_prompt + naive_completion) / tokens, 2),
        "digest_chars": len(message["text"]),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--quick", action="store_true", help="the 1k channel only: checks that the bench runs (CI)")
    args = parser.parse_args()
    if args.quick:
        args.sizes = [1_000]
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    connection = redis.Redis.from_url(redis_url)
    rng = random.Random(7)
    results = []
    with (
        tempfile.TemporaryDirectory() as data,
        SlackServer(token=TOKEN) as slack,
        ModelServer(latency=LATENCY, api_key="sk-bench") as model,
    ):
        for i, name in enumerate(PEOPLE):
            slack.add_user(f"UB{i:02d}", name)
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": "bench",
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-bench",
            "MODEL": "bench-model",
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{data}/bench.db",
            "DIGEST_QUEUE": f"digest-bench-{os.getpid()}",
            "DIGEST_MODEL_CONCURRENCY": str(CONCURRENCY),
            "CACHE_TTL_SECONDS": "0",
            "SLACK_HISTORY_PER_MINUTE": "100000",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "text",
            "MODEL_TIMEOUT_SECONDS": "60",
        }
        settings = load_settings(**{k.lower(): v for k, v in env.items()})
        ledger = Ledger(settings.resolved_database_url)
        ledger.migrate()
        journal = DigestJournal(ledger.engine)
        print(
            f"model: {LATENCY * 1000:.0f} ms a call, concurrency {CONCURRENCY}, context "
            f"{settings.model_context_tokens:,} tokens; Slack history budget raised to "
            f"{settings.slack_history_per_minute:,}/min (Slack allows about 50/min)",
            flush=True,
        )
        _warm_up()  # this process's own model calls (the map-reduce alone, the naive sample) start warm too
        workers = WorkerProcess(env, processes=1).start()
        try:
            for size in args.sizes:
                result = run(size, slack, model, settings, connection, journal, rng, args.timeout)
                results.append(result)
                print(
                    f"{result['messages']:,} messages ({result['replies']:,} in threads; "
                    f"{result['slack_history_calls']} history pages, {result['slack_replies_calls']} threads read): "
                    f"wall {result['wall_s']} s vs ideal {result['ideal_s']} s = {result['wall_vs_ideal']}x; "
                    f"{result['map_calls']} map calls, merge levels {result['merge_levels']}, peak "
                    f"{result['model_peak_concurrency']} calls in flight",
                    flush=True,
                )
                maps, merges = result["ideal_rounds"]
                print(
                    f"  ideal = {maps} round{'s' * (maps != 1)} of map calls + {merges} of merges, x "
                    f"{LATENCY * 1000:.0f} ms. Wall: queued to first Slack read {result['before_reading_s']} s, "
                    f"reading Slack {result['reading_s']} s (map calls meanwhile), last read to last model answer "
                    f"{result['after_reading_s']} s (map calls still queued, then the merge: at least 2 x 200 ms), "
                    f"posting {result['posting_s']} s; load average {result['load_average']} on "
                    f"{os.cpu_count()} CPUs",
                    flush=True,
                )
                print(
                    f"  first model call to digest: {result['model_phase_s']} s = "
                    f"{result['model_phase_vs_ideal']}x the ideal; the map-reduce alone on threads already read: "
                    f"{result['mapreduce_alone_s']} s = {result['mapreduce_alone_vs_ideal']}x its ideal",
                    flush=True,
                )
                print(
                    f"  per 1k messages: digest {result['calls_per_1k']} calls, {result['tokens_per_1k']:,} tokens"
                    f" | naive {result['naive_calls_per_1k']} calls, {result['naive_tokens_per_1k']:,} tokens "
                    f"(~{result['naive_wall_s_estimated']} s for this channel) | "
                    f"{result['token_ratio_vs_naive']}x fewer tokens",
                    flush=True,
                )
        finally:
            workers.stop()
    last = results[-1]
    print(
        json.dumps(
            {
                "token_ratio_vs_naive": last["token_ratio_vs_naive"],
                "wall_vs_ideal": last["wall_vs_ideal"],
                "mapreduce_alone_vs_ideal": last["mapreduce_alone_vs_ideal"],
                "messages": last["messages"],
                "wall_s": last["wall_s"],
                "ideal_s": last["ideal_s"],
                "reading_s": last["reading_s"],
                "load_average": last["load_average"],
                "runs": results,
            }
        )
    )


if __name__ == "__main__":
    main()
