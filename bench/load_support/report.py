"""Figures and the bottleneck statement of the load bench."""

from __future__ import annotations

import math
import re
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def distinct(lines: list[str]) -> list[str]:
    seen, out = set(), []
    for line in lines:
        key = re.sub(r"\d+", "#", line)[:120]
        if key not in seen:
            seen.add(key)
            out.append(line)
    return out


def bottleneck_statement(per_phase: dict[str, dict[str, Any]], ev: dict[str, int]) -> list[str]:
    one, five = per_phase["1x"], per_phase["5x"]
    return [
        "Bottleneck found:",
        "- CPU and the interpreter lock. Acks used to be sent from the same threads, in the same processes, as the "
        "answers: at 5x the acks queued behind the post-ack work of earlier requests (ack p99 14.8 s). Two changes: "
        "acks now leave from the request's own thread (Bolt lazy listeners with process_before_response), and each "
        "web worker hands its post-ack work to a work process of its own (server/work_process.py), so an ack never "
        "waits for the interpreter lock behind an answer.",
        f"- At 5x the web processes used {five['web_core_pct']:.0f}% of a core ({five['web_cpu_s_per_1k']:.1f} ms "
        f"per request) and the work processes {five['work_core_pct']:.0f}% ({five['work_cpu_s_per_1k']:.1f} ms per "
        f"request); the local Slack and model servers {five['servers_core_pct']:.0f}%, everything else "
        f"(PostgreSQL, Redis, other tenants) {five['others_core_pct']:.0f}%; the machine was "
        f"{five['machine_busy_pct']:.0f}% busy. Ack p99: {one['ack_p99_ms']:.0f} ms at 1x, {five['ack_p99_ms']:.0f} "
        f"ms at 5x; {ev['non_200_5x']} of {ev['sent_5x']} requests at 5x got no 200.",
        f"- Redis pool: exhausted {ev['redis_pool_exhausted']} times, dedupe fell back to process memory "
        f"{ev['dedupe_fallbacks']} times; {ev['dup_from_retries']} of {ev['retries']} re-deliveries produced a "
        "second reply.",
        "- Database connections. Each request used to write its ledger row from its own thread: at 5x, some "
        "hundred threads per work process contended for a pool of 15 connections, some waited out its 30 s timeout, "
        "and those rows were lost (12 in one run) while budget checks waited as long. Rows now leave the request at "
        "once and one thread per process writes them in batches (bot/storage/ledger_writer.py). This run: "
        f"{ev['ledger_rows_lost']} ledger rows lost, {ev['db_pool_timeouts']} pool timeouts.",
        "- Slack 429s. Streams and summaries shared a per-workspace Redis budget sized to exactly Slack's limit, and "
        "a call granted just before a sliding minute could arrive inside it (a 429 or two per run). The budget now "
        "spends 90% of each limit, and a caller with an older clock reading no longer moves the bucket's stamp "
        "back (which refilled the same time twice).",
        "- /digest's ack called Slack (conversations.info, and conversations.list for #names): its ack p99 was "
        "0.7–1.4 s. It now acks after parsing and checks the channels after the ack.",
        "What is left: the answers still need CPU. At "
        f"{five['bot_cpu_s_per_1k']:.0f} ms per request in all, 58 requests/s keep about "
        f"{58 * five['bot_cpu_s_per_1k'] / 1000:.1f} cores busy with the bot alone; a deployment gives it cores "
        "to spare (more processes or machines behind the load balancer), or the answers fall behind while the acks "
        "stay fast.",
    ]
