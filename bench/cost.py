"""What the response cache saves on a realistic mixed workload, and proof that it serves nothing stale.

The workload (600 requests) replays what a team does: summaries of texts that get summarized again (the same
meeting notes pasted by several people), docs questions that come back, and varied chats that never repeat.
Half of the requests repeat an earlier one. It runs twice through the real patterns and gateway against the
local model server: once without the cache and once with the Redis cache. Cost comes from the gateway's price
table for the configured model (gpt-4o-mini prices), from the exact token usage the server reports.

Then one document changes and is re-indexed: the same docs question must be answered from the new text (a cache
miss), never from the cached answer.

Last line: JSON with `cost_saved_pct` and `hit_rate`.

`--quick` replays 60 requests of the same mix instead of 600 (the docs change check is the same), so CI can run the
bench in seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bot.model.cache import ResponseCache  # noqa: E402
from bot.model.gateway import Gateway  # noqa: E402
from bot.model.metering import Meter  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from doubles.model_server import ModelServer  # noqa: E402
from patterns.chat import chat_messages  # noqa: E402
from patterns.summarize import summarize  # noqa: E402

DOCS = ROOT / "playground" / "demo_docs"
TOPICS = [
    "billing",
    "search",
    "mobile app",
    "payments",
    "infrastructure",
    "support",
    "hiring",
    "security",
    "pricing",
    "onboarding",
]


def summary_text(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    return (
        f"Meeting notes {i}: the {topic} team reviewed last week's incidents and agreed to ship the fix on "
        f"Thursday. Owner for the {topic} follow-up is person {i % 7}. Open question: does the {topic} change "
        f"need a security review? Decision: keep the feature flag on for two more weeks. " * 3
    )


def questions() -> list[str]:
    return [
        "How do I deploy to production?",
        "What is the expense limit for meals?",
        "Who is on call this week?",
        "How do I roll back a deploy?",
        "How are expenses approved?",
        "What does the on-call engineer do?",
        "Where do I file an expense report?",
        "What is the deploy freeze policy?",
    ]


def workload(seed: int = 7, total: int = 600) -> list[tuple[str, str]]:
    """(kind, input) pairs: half are exact repeats of an earlier summary or docs question."""
    rng = random.Random(seed)
    unique = total // 2
    firsts: list[tuple[str, str]] = []
    for i in range(unique):
        kind = rng.choices(["summarize", "docs", "chat"], weights=[50, 30, 20])[0]
        if kind == "summarize":
            firsts.append((kind, summary_text(i)))
        elif kind == "docs":
            firsts.append((kind, questions()[i % len(questions())] + f" (asked by team {i % 40})"))
        else:
            firsts.append((kind, f"Chat {i}: brainstorm a name for project {rng.randint(0, 10**9)}"))
    repeatable = [item for item in firsts if item[0] != "chat"]
    requests = firsts + [rng.choice(repeatable) for _ in range(total - unique)]
    rng.shuffle(requests)
    return requests


def run(settings, cache, requests) -> dict:  # type: ignore[no-untyped-def]
    from knowledge.library import Library
    from patterns.rag import answer

    gateway = Gateway(settings, cache)
    library = Library(settings, gateway)
    cost = hits = 0.0
    for kind, text in requests:
        meter = Meter(pattern=kind)
        if kind == "summarize":
            summarize(
                text,
                gateway=gateway,
                meter=meter,
                context_tokens=settings.model_context_tokens,
                max_input_tokens=settings.max_input_tokens,
            )
        elif kind == "docs":
            for _ in answer(library, text, meter=meter):
                pass
        else:
            for _ in gateway.stream_chat(chat_messages([], text), pattern="chat", meter=meter):
                pass
        cost += meter.cost_usd
        hits += meter.cache_hit
    return {"cost_usd": cost, "hits": int(hits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--quick", action="store_true", help="60 requests: checks that the bench runs (CI)")
    args = parser.parse_args()
    if args.quick:
        args.requests = 60
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with ModelServer() as model, tempfile.TemporaryDirectory() as data:
        docs = Path(data) / "docs"
        shutil.copytree(DOCS, docs)
        env = {
            **os.environ,
            "DATA_DIR": data,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-bench",
            "MODEL": "gpt-4o-mini",
            "REDIS_URL": redis_url,
        }

        def ingest() -> None:
            subprocess.run(
                [sys.executable, "app.py", "ingest", str(docs)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                timeout=600,
            )

        ingest()
        settings = load_settings(
            data_dir=Path(data),
            openai_base_url=model.base_url,
            openai_api_key="sk-bench",
            model="gpt-4o-mini",
            redis_url=redis_url,
        )
        requests = workload(total=args.requests)
        without = run(settings, None, requests)
        calls_without = len(model.calls_to("/chat/completions"))
        with_cache = run(settings, ResponseCache(client, settings.cache_ttl_seconds), requests)
        calls_with = len(model.calls_to("/chat/completions")) - calls_without

        # A document changes: the same question must not get the cached (stale) answer.
        question = "What is the expense limit for meals? (asked by team 0)"
        run(settings, ResponseCache(client, settings.cache_ttl_seconds), [("docs", question)])
        target = docs / "expenses.md"
        target.write_text(target.read_text() + "\n\n## Meals\n\nFrom now on the meal limit is 99 dollars per day.\n")
        ingest()
        before = len(model.calls_to("/chat/completions"))
        after_change = run(settings, ResponseCache(client, settings.cache_ttl_seconds), [("docs", question)])
        refreshed = len(model.calls_to("/chat/completions")) > before and after_change["hits"] == 0
        prompt = json.dumps(model.calls_to("/chat/completions")[-1].body["messages"]) if refreshed else ""

    total = len(requests)
    saved = (without["cost_usd"] - with_cache["cost_usd"]) / without["cost_usd"] * 100
    figures = {
        "requests": total,
        "repeated_requests_pct": round(100 * (total - len(set(requests))) / total, 1),
        "cost_without_cache_usd": round(without["cost_usd"], 6),
        "cost_with_cache_usd": round(with_cache["cost_usd"], 6),
        "cost_saved_pct": round(saved, 1),
        "hit_rate": round(with_cache["hits"] / total, 3),
        "model_calls_without_cache": calls_without,
        "model_calls_with_cache": calls_with,
        "stale_answers_after_docs_change": 0 if refreshed and "99 dollars" in prompt else 1,
    }
    for key, value in figures.items():
        print(f"{key:>34}: {value}")
    print(json.dumps({"cost_saved_pct": figures["cost_saved_pct"], "hit_rate": figures["hit_rate"], **figures}))


if __name__ == "__main__":
    main()
