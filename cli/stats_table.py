"""Render the per-pattern usage table that `app.py stats` prints."""

from __future__ import annotations

from datetime import timedelta

from bot.storage.ledger import PatternStats

HEADERS = (
    "pattern",
    "requests",
    "errors",
    "avg ms",
    "p95 ms",
    "tokens in",
    "tokens out",
    "cost $",
    "cache hit",
    "up",
    "down",
)


def render_stats(rows: list[PatternStats], *, since: timedelta) -> str:
    title = f"Usage over the last {_describe(since)}"
    if not rows:
        return f"{title}: no requests yet."
    table = [
        (
            r.pattern,
            f"{r.requests:,}",
            f"{r.errors:,}",
            f"{r.avg_latency_ms:,.0f}",
            f"{r.p95_latency_ms:,.0f}",
            f"{r.prompt_tokens:,}",
            f"{r.completion_tokens:,}",
            f"{r.cost_usd:,.4f}",
            f"{r.cache_hit_rate:.0%}",
            f"{r.thumbs_up:,}",
            f"{r.thumbs_down:,}",
        )
        for r in rows
    ]
    total_cost = sum(r.cost_usd for r in rows)
    total_requests = sum(r.requests for r in rows)
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(HEADERS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [title, line(HEADERS), line(tuple("-" * w for w in widths)), *map(line, table)]
    out.append(f"total: {total_requests:,} requests, ${total_cost:,.4f}")
    return "\n".join(out)


def _describe(since: timedelta) -> str:
    if since.days and not since.seconds:
        return f"{since.days} day{'s' * (since.days != 1)}"
    hours = since.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{since.total_seconds() / 60:g} minutes"
