"""What the AI bot costs, as people in Slack see it: `/usage` and the App Home tab.

Everyone sees their own usage today and this month. Admins also see, for the workspace, the per-pattern table for
today, 7 and 30 days, the top channels and users by cost, and the projected monthly cost at the current rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from bot.storage.ledger import Ledger, PatternStats, RequestRecord


@dataclass(frozen=True)
class Totals:
    requests: int
    cost_usd: float
    tokens: int


@dataclass(frozen=True)
class UsageReport:
    user_today: Totals
    user_month: Totals
    is_admin: bool
    windows: dict[str, list[PatternStats]]  # "today" / "7 days" / "30 days" → per-pattern rows (admins)
    top_channels: list[tuple[str, float]]
    top_users: list[tuple[str, float]]
    projected_month_usd: float


def build_report(ledger: Ledger, *, workspace: str, user: str, is_admin: bool) -> UsageReport:
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = today.replace(day=1)
    session_factory = sessionmaker(ledger.engine)
    with session_factory() as session:

        def totals(start: datetime, **where: str) -> Totals:
            query = select(
                func.count(),
                func.sum(RequestRecord.cost_usd),
                func.sum(RequestRecord.prompt_tokens + RequestRecord.completion_tokens),
            ).where(RequestRecord.workspace == workspace, RequestRecord.created_at >= start)
            for column, value in where.items():
                query = query.where(getattr(RequestRecord, column) == value)
            count, cost, tokens = session.execute(query).one()
            return Totals(int(count or 0), float(cost or 0), int(tokens or 0))

        def top(column: Any, start: datetime) -> list[tuple[str, float]]:
            query = (
                select(column, func.sum(RequestRecord.cost_usd).label("cost"))
                .where(RequestRecord.workspace == workspace, RequestRecord.created_at >= start, column != "")
                .group_by(column)
                .order_by(func.sum(RequestRecord.cost_usd).desc())
                .limit(5)
            )
            return [(name, float(cost or 0)) for name, cost in session.execute(query)]

        user_today, user_month = totals(today, user=user), totals(month, user=user)
        if not is_admin:
            return UsageReport(user_today, user_month, False, {}, [], [], 0.0)
        last_week = totals(now - timedelta(days=7))
        windows = {
            label: ledger.stats(since=span, workspace=workspace)
            for label, span in (("today", now - today), ("7 days", timedelta(days=7)), ("30 days", timedelta(days=30)))
        }
        return UsageReport(
            user_today,
            user_month,
            True,
            windows,
            top(RequestRecord.channel, now - timedelta(days=30)),
            top(RequestRecord.user, now - timedelta(days=30)),
            projected_month_usd=last_week.cost_usd / 7 * 30,
        )


def render_text(report: UsageReport) -> str:
    """The report as mrkdwn (for `/usage`)."""
    lines = [
        "*Your AI usage*",
        f"Today: {_totals(report.user_today)}",
        f"This month: {_totals(report.user_month)}",
    ]
    if report.is_admin:
        for label, rows in report.windows.items():
            lines += ["", f"*Workspace, {label}*", _table(rows)]
        lines += [
            "",
            "*Top channels by cost (30 days)*: " + _top(report.top_channels, "#"),
            "*Top users by cost (30 days)*: " + _top(report.top_users, "@"),
            f"*Projected monthly cost* at the last 7 days' rate: ${report.projected_month_usd:,.2f}",
        ]
    return "\n".join(lines)


def render_home(report: UsageReport) -> dict[str, Any]:
    """The report as an App Home view."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your AI usage"}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Today*\n{_totals(report.user_today)}"},
                {"type": "mrkdwn", "text": f"*This month*\n{_totals(report.user_month)}"},
            ],
        },
    ]
    if report.is_admin:
        blocks += [{"type": "divider"}, {"type": "header", "text": {"type": "plain_text", "text": "Workspace"}}]
        for label, rows in report.windows.items():
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*{label}*\n{_table(rows)}"[:3000]}})
        blocks += [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Top channels by cost (30 days)*\n{_top(report.top_channels, '#')}\n"
                    f"*Top users by cost (30 days)*\n{_top(report.top_users, '@')}",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Projected monthly cost at the last 7 days' rate: *${report.projected_month_usd:,.2f}*",
                    }
                ],
            },
        ]
    return {"type": "home", "blocks": blocks}


def _totals(totals: Totals) -> str:
    return f"{totals.requests:,} requests, {totals.tokens:,} tokens, ${totals.cost_usd:,.4f}"


def _table(rows: list[PatternStats]) -> str:
    if not rows:
        return "_no requests_"
    header = (
        f"{'pattern':<10}{'requests':>9}{'avg ms':>8}{'p95 ms':>8}{'tokens':>10}{'cost $':>10}{'cache':>7}{'errors':>7}"
    )
    body = [
        f"{r.pattern:<10}{r.requests:>9,}{r.avg_latency_ms:>8,.0f}{r.p95_latency_ms:>8,.0f}"
        f"{r.prompt_tokens + r.completion_tokens:>10,}{r.cost_usd:>10,.4f}{r.cache_hit_rate:>7.0%}{r.errors:>7,}"
        for r in rows
    ]
    return "```\n" + "\n".join([header, *body]) + "\n```"


def _top(items: list[tuple[str, float]], sigil: str) -> str:
    if not items:
        return "_none yet_"
    mention = (lambda x: f"<#{x}>") if sigil == "#" else (lambda x: f"<@{x}>")
    return ", ".join(f"{mention(name)} ${cost:,.4f}" for name, cost in items)
