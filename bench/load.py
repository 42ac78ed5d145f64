"""Production-shaped load: the realistic request mix at a million requests a day, then 5x, open loop.

The bot runs as deployed in HTTP mode (`app.py serve`: gunicorn, several worker processes behind one port,
PostgreSQL ledger, shared Redis) with `app.py worker` processes for digests, against the local Slack and model
servers. An open-loop generator in its own process (no shared interpreter lock with the local servers) sends
signed requests on a clock (Poisson arrivals), never waiting for a response before sending the next one, and
records every ack's latency. The mix: 50% `/summarize`, 30% streamed chat (`@bot ...`), 15% docs questions
(`@bot docs: ...`), 4% `/digest`, 1% agent tasks (`@bot agent: ...`). The model takes what a production
deployment of these patterns reported: 1.5 s, 2.0 s, 2.5 s, background (2.0 s per digest model call here), 5 s.
About 2% of events are delivered again with the same event_id and `X-Slack-Retry-Num: 1`, as Slack does.

Load: ramp to a million requests a day (11.6/s), hold 60 s, ramp to 5x (58/s), hold 60 s; then a drain window.
Printed per phase: ack latency p50/p99/max, error rate, requests lost, duplicate replies, Slack 429s, CPU seconds
and peak memory per 1k requests; then what limited it. Goal at 5x: ack p99 under 200 ms, no lost or duplicated
reply, no 429. Last line: JSON with `ack_p99_ms_5x`, `lost`, `duplicates` and `slack_429s`.

Slack's limits are per workspace, and a million requests a day come from many workspaces, so requests are spread
over `--teams` team ids and the local Slack server enforces Slack's published per-workspace tier limits per team
id (each channel and user is assigned to one team), not one limit per method for the whole server.

`--quick` runs a few seconds of light load (CI runs it so the bench cannot rot); its figures say nothing of the goal.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_support.checking import Checker, Outcome  # noqa: E402
from bench.load_support.generator import drive  # noqa: E402
from bench.load_support.report import bottleneck_statement, distinct, percentile  # noqa: E402
from bench.load_support.responder import TOKEN_DELAY, make_responder  # noqa: E402
from bench.load_support.sampling import Sampler  # noqa: E402
from bench.load_support.workload import (  # noqa: E402
    DIGEST_LINES,
    NUMBER_BASE,
    RESPONSE_BASE,
    Item,
    Phase,
    World,
    build_plan,
    make_request,
)

SECRET = "bench-load-signing-secret"
TOKEN = "xoxb-bench-load"
PER_DAY_1M = 1_000_000 / 86_400  # 11.57 requests/s
MIX = {"summarize": 0.50, "chat": 0.30, "docs": 0.15, "digest": 0.04, "agent": 0.01}
WORKSPACE_LIMITS = {
    "chat.update": 50,
    "conversations.history": 50,
    "conversations.replies": 50,
    "conversations.info": 50,
    "conversations.open": 50,
    "conversations.members": 100,
    "users.info": 100,
    "chat.postEphemeral": 100,
    "chat.startStream": 20,
    "chat.appendStream": 100,
    "chat.stopStream": 20,
}
POSTS_PER_CHANNEL_MINUTE = 60


def main() -> None:  # noqa: C901, PLR0912, PLR0915 - one scripted run, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=PER_DAY_1M, help="requests/s of phase 1 (a million a day)")
    parser.add_argument("--multiplier", type=float, default=5.0, help="phase 2 rate = multiplier x rate")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds at each rate")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds of each ramp")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn worker processes (WEB_CONCURRENCY)")
    parser.add_argument("--rq-processes", type=int, default=4, help="digest worker processes (app.py worker)")
    parser.add_argument("--teams", type=int, default=200, help="workspaces the requests come from")
    parser.add_argument("--retry-share", type=float, default=0.02, help="events delivered twice, as Slack retries")
    parser.add_argument("--drain", type=float, default=120.0, help="max seconds to wait for replies after the load")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds at 1 and 2 requests/s from 5 workspaces, one process each: checks that "
        "the bench runs (CI), not the goal",
    )
    args = parser.parse_args()
    if args.quick:
        args.rate, args.multiplier, args.hold, args.ramp, args.teams = 1.0, 2.0, 4.0, 1.0, 5
        args.web_workers, args.rq_processes, args.drain = 1, 1, 60.0

    import redis
    import sqlalchemy

    from doubles.bot_process import BotProcess
    from doubles.model_server import ModelServer
    from doubles.worker_process import WorkerProcess

    wall_started = time.monotonic()
    redis_client = redis.Redis.from_url(args.redis_url)
    redis_client.flushdb()
    schema = f"bench_load_{os.getpid()}"
    engine = sqlalchemy.create_engine(args.database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    database_url = f"{args.database_url}?options=-csearch_path%3D{schema}"
    notes: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)

    rate1, rate2 = args.rate, args.rate * args.multiplier
    r, h = args.ramp, args.hold
    phases = [
        Phase("ramp to 1x", 0, r, rate1 * 0.1, rate1, False),
        Phase("1x", r, r + h, rate1, rate1, True),
        Phase("ramp to 5x", r + h, 2 * r + h, rate1, rate2, False),
        Phase("5x", 2 * r + h, 2 * r + 2 * h, rate2, rate2, True),
    ]
    load_seconds = phases[-1].end

    from doubles.slack import SlackServer

    responder = make_responder()
    with (
        SlackServer(token=TOKEN) as slack,
        ModelServer(token_delay=TOKEN_DELAY) as model,
        tempfile.TemporaryDirectory(prefix="bench-load-") as data,
    ):
        model.responder = responder
        RESPONSE_BASE[0] = slack.root_url
        # Workspaces: each with two conversation channels and three people who talk in digest channels.
        teams = [f"T{n:04d}" for n in range(args.teams)]
        world = World(teams, {})
        for team in teams:
            world.channels[team] = [f"C{team[1:]}G", f"C{team[1:]}R"]
            for channel in world.channels[team]:
                slack.add_channel(channel, channel.lower())
                slack.assign_workspace(team, channel)
            for who in "ABC":
                user = f"W{team[1:]}{who}"
                slack.add_user(user, f"{who.lower()}-{team.lower()}")
                slack.assign_workspace(team, user)
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_APP_TOKEN": "",
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": model.base_url,
            "OPENAI_API_KEY": "sk-bench-load",
            "DATA_DIR": data,
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis_url,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "DIGEST_QUEUE": f"bench-load-{os.getpid()}",
            "SLACK_STREAMING": "edits",  # the figures are for the edits transport
        }
        say(f"setting up: {args.teams} workspaces, PostgreSQL schema {schema}, Redis {args.redis_url} (flushed)")
        ingest = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "ingest", str(ROOT / "playground/demo_docs")],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=180,
        )
        mix = dict(MIX)
        if ingest.returncode != 0:
            notes.append(f"docs questions could not run: ingest failed ({ingest.stderr.strip()[-200:]})")
            mix["docs"] = 0.0
        say(f"docs ingested: {ingest.stdout.strip().splitlines()[-1] if ingest.stdout.strip() else ingest.returncode}")

        with BotProcess(env, workers=args.web_workers) as bot:
            workers = None
            # INFO: the worker's readiness lines ("Listening on") are logged at INFO.
            starting = WorkerProcess({**env, "LOG_LEVEL": "INFO"}, processes=args.rq_processes)
            atexit.register(_kill_if_running, starting)  # no worker outlives the run, whatever happens
            try:
                workers = starting.start()
            except Exception as error:  # noqa: BLE001
                if starting.process is not None and starting.process.poll() is None:
                    starting.kill()  # never leave a worker behind on the queue
                notes.append(f"digests could not run: the worker did not start ({str(error)[:200]})")
                mix["digest"] = 0.0
            say(
                f"bot ready: {args.web_workers} gunicorn workers on {bot.url}; "
                f"{args.rq_processes if workers else 0} digest worker processes"
            )

            # Warm-up: one request of each kind, answered before the clock starts (checks that every pattern
            # runs; the first calls of a process import lazily). Not counted.
            slack.set_clock(time.time() - 3_600)  # seeded digest history lies inside "the last 24 hours"
            expected = sum((p.rate_from + p.rate_to) / 2 * (p.end - p.start) for p in phases) * mix["digest"]
            for k in range(int(expected * 1.6) + 40):  # one fresh channel per digest: no cached model answer
                team = teams[k % len(teams)]
                channel = f"C{team[1:]}X{k:05d}"
                slack.add_channel(channel, f"project-{k}")
                slack.assign_workspace(team, channel)
                for who, line in DIGEST_LINES:
                    slack.post(channel, line.format(c=f"p{k}"), user=f"W{team[1:]}{who}")
                world.digest_channels.append((team, channel))
            world.digest_channels.reverse()

            warm_mix = {kind: 1.0 for kind, share in mix.items() if share > 0}
            warm = []
            for n, kind in enumerate(warm_mix):
                team = teams[n]
                item = Item(
                    n,
                    0.2 * n,
                    kind,
                    team,
                    world.channels[team][0],
                    f"W{team[1:]}V{n:05d}",
                    NUMBER_BASE + n,
                    phase="warm-up",
                )
                make_request(item, world, random.Random(n), slack.bot_user_id)
                warm.append(item)
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as generator:
                generator.submit(time.time).result()  # start the process (and its imports) before the clock
                generator_pids = list(generator._processes)  # noqa: SLF001
                results = generator.submit(
                    drive,
                    bot.url,
                    SECRET,
                    [(i.index, i.offset, i.body, i.content_type, i.headers) for i in warm],
                    time.time() + 0.5,
                    15.0,
                ).result()
                for index, status, *_ in results:
                    warm[index].status = status
                checker = Checker(slack, warm)
                deadline = time.monotonic() + 45
                while time.monotonic() < deadline:
                    outcomes = checker.outcomes()
                    if all(o.state != "pending" and o.state != "missing" for o in outcomes.values()):
                        break
                    time.sleep(0.5)
                for item in warm:
                    outcome = outcomes[item.index]
                    say(
                        f"  warm-up {item.kind:<9} ack {item.status}  reply: {outcome.state}"
                        + (f" ({outcome.detail})" if outcome.detail else "")
                    )
                    if item.kind == "digest" and outcome.state != "answered" and workers:
                        for line in workers.output.splitlines()[-12:]:
                            say(f"    worker | {line[:180]}")
                    if item.status != 200 or outcome.state != "answered":
                        notes.append(
                            f"{item.kind} could not run in the warm-up (ack {item.status}, reply "
                            f"{outcome.state}: {outcome.detail[:100]}); left out of the mix"
                        )
                        mix[item.kind] = 0.0
                warm_calls = len(slack.calls)

                # The measured run.
                items = build_plan(
                    phases,
                    mix,
                    world,
                    retry_share=args.retry_share,
                    seed=args.seed,
                    bot_user=slack.bot_user_id,
                    first_index=len(warm),
                )
                by_index = {i.index: i for i in items}
                say(
                    f"plan: {sum(i.retry_of is None for i in items)} requests "
                    f"+ {sum(i.retry_of is not None for i in items)} re-deliveries over {load_seconds:.0f} s "
                    f"({', '.join(f'{p.name} {p.end - p.start:.0f} s' for p in phases)}); "
                    f"rates {rate1:.1f}/s and {rate2:.1f}/s; mix " + ", ".join(f"{k} {v:.0%}" for k, v in mix.items())
                )
                for method, per_minute in WORKSPACE_LIMITS.items():
                    slack.set_rate_limit(method, per_minute, per="workspace")
                slack.set_rate_limit("chat.postMessage", POSTS_PER_CHANNEL_MINUTE, per="channel")
                queue_key = f"rq:queue:{env['DIGEST_QUEUE']}"
                sampler = Sampler(
                    bot.process.pid,
                    workers.process.pid if workers else None,
                    generator_pids,
                    model,
                    lambda: redis_client.llen(queue_key),
                )
                sampler.start()
                start_at = time.time() + 2.0
                future = generator.submit(
                    drive,
                    bot.url,
                    SECRET,
                    [(i.index, i.offset, i.body, i.content_type, i.headers) for i in items],
                    start_at,
                    15.0,
                )
                results = future.result()
            load_done = time.time()
            for index, status, elapsed, _connect, late, error in results:
                item = by_index[index]
                item.status, item.ack_ms, item.late_ms, item.error = status, elapsed, late, error

            # Drain: wait until every acked request has its reply, or the window closes.
            checker = Checker(slack, [i for i in items if i.status == 200])
            drain_deadline = time.monotonic() + args.drain
            while True:
                outcomes = checker.outcomes()
                waiting = sum(o.state in ("pending", "missing") for o in outcomes.values())
                if waiting == 0 or time.monotonic() > drain_deadline:
                    break
                time.sleep(3.0)
            drained_after = time.time() - load_done
            sampler.stopped.set()
            sampler.join()
            final_sample = sampler.sample()
            bot_hwm_each = dict(sampler.bot_hwm_each)
            bot_output = bot.output
            worker_output = workers.output if workers else ""
            if workers:
                workers.stop()
                workers = None

        with engine.begin() as connection:
            ledger = connection.exec_driver_sql(
                f"SELECT pattern, status, coalesce(error_kind, ''), count(*) FROM {schema}.requests "
                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ).all()
        calls = slack.calls[warm_calls:]
        model_seen = dict(responder.seen)
        model_peak = model.max_in_flight

    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    engine.dispose()

    # --- figures ------------------------------------------------------------------------------------------------
    originals = [i for i in items if i.retry_of is None]
    retries = [i for i in items if i.retry_of is not None]
    acked = {i.index for i in originals if i.status == 200}
    lost = [i for i in originals if i.index in acked and outcomes[i.index].state in ("pending", "missing")]
    error_replies = [
        i for i in originals if i.index in acked and outcomes[i.index].state in ("error_reply", "other_reply")
    ]
    duplicated = [i for i in originals if i.index in acked and outcomes[i.index].replies > 1]
    retried = {i.retry_of for i in retries}
    dup_from_retries = [i for i in duplicated if i.index in retried]
    statuses_429 = [c for c in calls if c.status == 429]
    mono_offset = _mono_offset()
    by_method_429 = Counter(c.method for c in statuses_429)

    say("")
    say(
        f"{'phase':<12}{'rate/s':>8}{'sent':>7}{'ack p50':>9}{'p99':>8}{'max':>8}{'errors':>8}{'lost':>6}"
        f"{'dupl':>6}{'429s':>6}{'bot CPU s/1k (web+work)':>24}{'workers CPU s/1k':>18}{'peak MB':>9}{'MB/1k':>7}"
    )
    per_phase: dict[str, dict[str, Any]] = {}
    prev_hwm = None
    for phase in phases:
        sent = [i for i in items if i.phase == phase.name]
        first = [i for i in sent if i.retry_of is None]
        acks = [i.ack_ms for i in sent if i.status == 200]
        failed = [i for i in sent if i.status != 200]
        t0, t1 = start_at + phase.start, start_at + phase.end
        s0, s1 = sampler.at(t0), sampler.at(t1)
        thousands = max(len(first), 1) / 1000
        phase_lost = [i for i in lost if i.phase == phase.name]
        phase_dup = [i for i in duplicated if i.phase == phase.name]
        phase_err = [i for i in error_replies if i.phase == phase.name]
        phase_429 = sum(1 for c in statuses_429 if t0 <= c.at + mono_offset < t1)
        figures = {
            "rate": (phase.rate_from + phase.rate_to) / 2,
            "sent": len(sent),
            "requests": len(first),
            "ack_p50_ms": percentile(acks, 0.5),
            "ack_p99_ms": percentile(acks, 0.99),
            "ack_max_ms": max(acks) if acks else float("nan"),
            "error_rate": (len(failed) + len(phase_err)) / max(len(sent), 1),
            "non_200": len(failed),
            "error_replies": len(phase_err),
            "lost": len(phase_lost),
            "duplicates": len(phase_dup),
            "slack_429s": phase_429,
            "bot_cpu_s_per_1k": (s1.bot_cpu - s0.bot_cpu) / thousands,
            "web_cpu_s_per_1k": (s1.bot_cpu - s1.work_cpu - s0.bot_cpu + s0.work_cpu) / thousands,
            "work_cpu_s_per_1k": (s1.work_cpu - s0.work_cpu) / thousands,
            "web_core_pct": 100 * (s1.bot_cpu - s1.work_cpu - s0.bot_cpu + s0.work_cpu) / max(s1.at - s0.at, 1e-9),
            "work_core_pct": 100 * (s1.work_cpu - s0.work_cpu) / max(s1.at - s0.at, 1e-9),
            "worker_cpu_s_per_1k": (s1.worker_cpu - s0.worker_cpu) / thousands,
            "local_servers_cpu_s_per_1k": (s1.main_cpu - s0.main_cpu) / thousands,
            "machine_busy_pct": 100 * (s1.busy - s0.busy) / max(s1.at - s0.at, 1e-9) / (os.cpu_count() or 1),
            "bot_core_pct": 100 * (s1.bot_cpu - s0.bot_cpu) / max(s1.at - s0.at, 1e-9),
            "servers_core_pct": 100 * (s1.main_cpu - s0.main_cpu) / max(s1.at - s0.at, 1e-9),
            "others_core_pct": 100
            * (
                (s1.busy - s0.busy)
                - sum(getattr(s1, k) - getattr(s0, k) for k in ("bot_cpu", "worker_cpu", "main_cpu", "generator_cpu"))
            )
            / max(s1.at - s0.at, 1e-9),
            "bot_peak_mb": s1.bot_hwm,
            "bot_peak_growth_mb_per_1k": (s1.bot_hwm - (prev_hwm or s0.bot_hwm)) / thousands,
            "late_ms_max": max((i.late_ms for i in sent), default=0.0),
        }
        prev_hwm = s1.bot_hwm
        per_phase[phase.name] = figures
        say(
            f"{phase.name:<12}{figures['rate']:>8.1f}{len(sent):>7}{figures['ack_p50_ms']:>9.0f}"
            f"{figures['ack_p99_ms']:>8.0f}{figures['ack_max_ms']:>8.0f}{figures['error_rate']:>8.2%}"
            f"{len(phase_lost):>6}{len(phase_dup):>6}{phase_429:>6}{figures['bot_cpu_s_per_1k']:>8.1f} "
            f"({figures['web_cpu_s_per_1k']:>5.1f}+{figures['work_cpu_s_per_1k']:>5.1f})"
            f"{figures['worker_cpu_s_per_1k']:>18.1f}{s1.bot_hwm:>9.0f}{figures['bot_peak_growth_mb_per_1k']:>7.1f}"
        )

    say("")
    say(
        "timeline (10 s buckets): sent, ack p50/p99 ms, non-200, CPU % of one core: bot / digest workers / "
        "local Slack+model servers / generator, machine busy %, model calls in flight, digest queue depth"
    )
    bucket = 10.0
    for b in range(int(math.ceil(load_seconds / bucket))):
        lo, hi = b * bucket, (b + 1) * bucket
        sent = [i for i in items if lo <= i.offset < hi]
        acks = [i.ack_ms for i in sent if i.status == 200]
        s0, s1 = sampler.at(start_at + lo), sampler.at(start_at + hi)
        span = max(s1.at - s0.at, 1e-9)
        say(
            f"  {lo:>4.0f}-{hi:<4.0f}s sent {len(sent):>4}  ack {percentile(acks, 0.5):>5.0f}/{percentile(acks, 0.99):>5.0f}"
            f"  non-200 {sum(i.status != 200 for i in sent):>3}  CPU bot web {100 * (s1.bot_cpu - s1.work_cpu - s0.bot_cpu + s0.work_cpu) / span:>4.0f}"
            f" work {100 * (s1.work_cpu - s0.work_cpu) / span:>4.0f}"
            f" workers {100 * (s1.worker_cpu - s0.worker_cpu) / span:>4.0f} servers "
            f"{100 * (s1.main_cpu - s0.main_cpu) / span:>4.0f} generator "
            f"{100 * (s1.generator_cpu - s0.generator_cpu) / span:>3.0f}  busy "
            f"{100 * (s1.busy - s0.busy) / span / (os.cpu_count() or 1):>4.0f}%  model {s1.model_in_flight:>4}"
            f"  queue {s1.queue_depth:>4}"
        )

    say("")
    kinds = Counter(i.kind for i in originals)
    say("per pattern (whole run): requests, answered, error replies, lost, duplicates, ack p99 ms")
    for kind in MIX:
        of_kind = [i for i in originals if i.kind == kind]
        if not of_kind:
            say(f"  {kind:<10} not run")
            continue
        answered = sum(outcomes.get(i.index, Outcome("missing", 0)).state == "answered" for i in of_kind)
        say(
            f"  {kind:<10}{len(of_kind):>6}{answered:>7}{sum(i in error_replies for i in of_kind):>6}"
            f"{sum(i in lost for i in of_kind):>6}{sum(i in duplicated for i in of_kind):>6}"
            f"{percentile([i.ack_ms for i in of_kind if i.status == 200], 0.99):>8.0f}"
        )
    say(
        f"re-deliveries (same event_id, X-Slack-Retry-Num: 1): {len(retries)} sent, "
        f"{sum(i.status == 200 for i in retries)} acked 200, {len(dup_from_retries)} produced a second reply"
    )
    say(f"replies complete {drained_after:.0f} s after the load stopped (drain window {args.drain:.0f} s)")
    say(
        f"Slack calls during the run: {len(calls)} ("
        + ", ".join(f"{m} {n}" for m, n in Counter(c.method for c in calls).most_common(8))
        + ")"
    )
    worst = slack.ratelimited_by_scope().most_common(3)
    say(
        f"Slack 429s: {len(statuses_429)}"
        + (f" ({dict(by_method_429)}; worst workspaces {worst})" if statuses_429 else "")
        + f". Limits are Slack's per-workspace tiers, enforced per team id over {args.teams} workspaces (chat.update "
        f"50/min, conversations.* 50/min, users.info 100/min, chat.postMessage 60/min per channel); the local "
        f"server's own global per-method limits are off, since at 58 requests/s across many workspaces they "
        f"would model one giant workspace."
    )
    say(f"model calls: {model_seen}; peak {model_peak} in flight")
    transport = Counter(i.error for i in items if i.status == 0)
    if transport:
        say(f"transport failures: {dict(transport)}")
    say(f"generator: sent at most {max(i.late_ms for i in items):.0f} ms behind schedule (open loop)")
    hwm = ", ".join(f"{v:.0f}" for v in sorted(bot_hwm_each.values(), reverse=True))
    say(
        f"bot peak memory (VmHWM per process, MB): {hwm}; sum {sum(bot_hwm_each.values()):.0f} MB over "
        f"{len(bot_hwm_each)} processes; digest workers {final_sample.worker_hwm:.0f} MB"
    )
    say("ledger rows: " + "; ".join(f"{p}/{s}{'/' + e if e else ''} {n}" for p, s, e, n in ledger))
    problems = [line for line in bot_output.splitlines() if re.search(r"ERROR|Traceback|WARNING|CRITICAL", line)]
    say(f"bot output: {len(problems)} warning/error lines" + ("" if not problems else ", e.g.:"))
    for line in distinct(problems)[:8]:
        say(f"  | {line[:200]}")
    worker_problems = [line for line in worker_output.splitlines() if re.search(r"ERROR|Traceback|WARNING", line)]
    if worker_problems:
        say(f"digest worker output: {len(worker_problems)} warning/error lines, e.g.:")
        for line in distinct(worker_problems)[:5]:
            say(f"  | {line[:200]}")
    for item in (lost + duplicated + error_replies)[:6]:
        o = outcomes[item.index]
        say(f"  example: {item.kind} #{item.index} ({item.phase}) {o.state}, {o.replies} bot message(s): {o.detail}")
    for note in notes:
        say(f"note: {note}")

    five = per_phase["5x"]
    say("")
    evidence = {
        "redis_pool_exhausted": bot_output.count("MaxConnectionsError"),
        "dedupe_fallbacks": bot_output.count("dedupe store unavailable"),
        "no_ack_in_3s": bot_output.count("didn't call ack()"),
        "superseded": sum("newer message in this thread" in outcomes[i.index].detail for i in duplicated),
        "dup_from_retries": len(dup_from_retries),
        "retries": len(retries),
        "non_200_5x": per_phase["5x"]["non_200"],
        "sent_5x": per_phase["5x"]["sent"],
        "ledger_rows_lost": sum(int(n) for n in re.findall(r"(\d+) ledger rows could not be written", bot_output)),
        "db_pool_timeouts": bot_output.count("(TimeoutError)"),
    }
    for line in bottleneck_statement(per_phase, evidence):
        say(line)
    say(f"(whole run {time.monotonic() - wall_started:.0f} s)")
    say(
        json.dumps(
            {
                "ack_p99_ms_5x": round(five["ack_p99_ms"], 1),
                "lost": len(lost),
                "duplicates": len(duplicated),
                "slack_429s": len(statuses_429),
                "ack_p50_ms_5x": round(five["ack_p50_ms"], 1),
                "ack_max_ms_5x": round(five["ack_max_ms"], 1),
                "ack_p99_ms_1x": round(per_phase["1x"]["ack_p99_ms"], 1),
                "error_rate_5x": round(five["error_rate"], 4),
                "requests": len(originals),
                "redeliveries": len(retries),
                "bot_cpu_s_per_1k_5x": round(five["bot_cpu_s_per_1k"], 1),
                "web_cpu_s_per_1k_5x": round(five["web_cpu_s_per_1k"], 1),
                "bot_peak_mb": round(sum(bot_hwm_each.values())),
                "ledger_rows_lost": evidence["ledger_rows_lost"],
                "mix": {k: kinds.get(k, 0) for k in MIX},
                "goal_met": None
                if args.quick
                else (five["ack_p99_ms"] < 200 and not lost and not duplicated and not statuses_429),
            }
        )
    )


def _kill_if_running(worker: Any) -> None:
    if worker.process is not None and worker.process.poll() is None:
        worker.kill()


def _mono_offset() -> float:
    """time.time() - time.monotonic(): Slack calls are stamped with the monotonic clock."""
    return time.time() - time.monotonic()


if __name__ == "__main__":
    main()
