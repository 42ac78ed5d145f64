"""Budgets: daily and monthly cost or request limits per user, channel or workspace, with a soft warning.

Limits live in the database, so admins change them (`/usage limit ...` or `app.py budget`) without a restart.
Usage is summed from the ledger for the current UTC day or month; refused requests do not count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, Integer, String, UniqueConstraint, delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from bot.storage.ledger import Base, Ledger, RequestRecord

log = logging.getLogger(__name__)

SCOPES = ("user", "channel", "workspace")
PERIODS = ("day", "month")
METRICS = ("cost", "requests")


class BudgetRecord(Base):
    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("workspace", "scope", "scope_id", "period", "metric", name="uq_budget"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(8))
    metric: Mapped[str] = mapped_column(String(8))
    limit_value: Mapped[float] = mapped_column(Float)
    warn_fraction: Mapped[float] = mapped_column(Float, default=0.8)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str = ""  # the refusal, in words for the user
    warning: str = ""  # a soft heads-up to append to an answer
    kind: str = ""  # for the ledger, e.g. budget_channel_day_cost


ALLOWED = Verdict(True)


def _amount(budget: BudgetRecord) -> str:
    value = f"${budget.limit_value:,.2f}" if budget.metric == "cost" else f"{budget.limit_value:,.0f} requests"
    return f"{value} per {budget.period}"


def describe(budget: BudgetRecord) -> str:
    who = {"user": f"<@{budget.scope_id}>", "channel": f"<#{budget.scope_id}>", "workspace": "this workspace"}
    return f"{who[budget.scope]}: {_amount(budget)} (warning at {budget.warn_fraction:.0%})"


class Budgets:
    def __init__(self, ledger: Ledger, *, outage_max_cost: float = 0.01) -> None:
        self._session = sessionmaker(ledger.engine, expire_on_commit=False)
        self.outage_max_cost = outage_max_cost

    def set(
        self,
        *,
        workspace: str,
        scope: str,
        scope_id: str,
        period: str,
        metric: str,
        limit: float,
        warn_fraction: float = 0.8,
    ) -> None:
        if scope not in SCOPES or period not in PERIODS or metric not in METRICS or limit < 0:
            raise ValueError("invalid budget")
        scope_id = workspace if scope == "workspace" else scope_id
        with self._session.begin() as session:
            existing = session.scalar(
                select(BudgetRecord).where(
                    BudgetRecord.workspace == workspace,
                    BudgetRecord.scope == scope,
                    BudgetRecord.scope_id == scope_id,
                    BudgetRecord.period == period,
                    BudgetRecord.metric == metric,
                )
            )
            if existing is None:
                existing = BudgetRecord(
                    workspace=workspace, scope=scope, scope_id=scope_id, period=period, metric=metric
                )
                session.add(existing)
            existing.limit_value, existing.warn_fraction = limit, warn_fraction
            existing.updated_at = datetime.now(UTC)

    def remove(self, *, workspace: str, scope: str, scope_id: str, period: str, metric: str) -> bool:
        scope_id = workspace if scope == "workspace" else scope_id
        with self._session.begin() as session:
            result = session.execute(
                delete(BudgetRecord).where(
                    BudgetRecord.workspace == workspace,
                    BudgetRecord.scope == scope,
                    BudgetRecord.scope_id == scope_id,
                    BudgetRecord.period == period,
                    BudgetRecord.metric == metric,
                )
            )
            return bool(result.rowcount)

    def list(self, workspace: str) -> list[BudgetRecord]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(BudgetRecord)
                    .where(BudgetRecord.workspace == workspace)
                    .order_by(BudgetRecord.scope, BudgetRecord.scope_id, BudgetRecord.period)
                )
            )

    def check(self, *, workspace: str, channel: str, user: str, estimated_cost: float = 0.0) -> Verdict:
        """May this request go ahead? The first limit reached refuses it; the closest warning is passed on.

        If the database cannot be read, small requests go ahead (an outage must not silence the bot), and those
        estimated above `outage_max_cost` are refused (no limit can be checked for them); both are logged.
        """
        try:
            return self._check(workspace=workspace, channel=channel, user=user)
        except SQLAlchemyError as error:
            return self._outage(type(error).__name__, estimated_cost)

    def _outage(self, error: str, estimated_cost: float) -> Verdict:
        if estimated_cost <= self.outage_max_cost:
            log.error("budgets unavailable (%s); allowing a request estimated at $%.4f", error, estimated_cost)
            return ALLOWED
        log.error(
            "budgets unavailable (%s); refusing a request estimated at $%.4f, over BUDGET_OUTAGE_MAX_COST_USD $%.4f",
            error,
            estimated_cost,
            self.outage_max_cost,
        )
        return Verdict(
            False,
            f"I can't check the spending limits right now (the usage database is not answering), so I can't take "
            f"a request this large (about ${estimated_cost:,.4f}). Smaller requests still work; please try this "
            "again in a few minutes.",
            kind="budget_unavailable",
        )

    def _check(self, *, workspace: str, channel: str, user: str) -> Verdict:
        ids = {"user": user, "channel": channel, "workspace": workspace}
        warning = ""
        with self._session() as session:
            budgets = session.scalars(select(BudgetRecord).where(BudgetRecord.workspace == workspace)).all()
            for budget in budgets:
                if ids[budget.scope] != budget.scope_id:
                    continue
                used = self._used(session, budget, ids)
                if used >= budget.limit_value:
                    return Verdict(
                        False, _refusal(budget), kind=f"budget_{budget.scope}_{budget.period}_{budget.metric}"
                    )
                if budget.limit_value and used >= budget.warn_fraction * budget.limit_value and not warning:
                    warning = _warning(budget, used)
        return Verdict(True, warning=warning)

    @staticmethod
    def _used(session, budget: BudgetRecord, ids: dict[str, str]) -> float:  # type: ignore[no-untyped-def]
        now = datetime.now(UTC)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if budget.period == "month":
            start = start.replace(day=1)
        amount = RequestRecord.cost_usd if budget.metric == "cost" else RequestRecord.id
        aggregate = func.sum(amount) if budget.metric == "cost" else func.count(amount)
        query = select(aggregate).where(
            RequestRecord.workspace == ids["workspace"],
            RequestRecord.created_at >= start,
            RequestRecord.status != "refused",
        )
        if budget.scope == "user":
            query = query.where(RequestRecord.user == ids["user"])
        elif budget.scope == "channel":
            query = query.where(RequestRecord.channel == ids["channel"])
        return float(session.scalar(query) or 0)


def _refusal(budget: BudgetRecord) -> str:
    whose = {"user": "your", "channel": "this channel's", "workspace": "this workspace's"}[budget.scope]
    what = "spending" if budget.metric == "cost" else "request"
    when = "at midnight UTC" if budget.period == "day" else "on the 1st of next month (UTC)"
    return (
        f"Sorry, {whose} {'daily' if budget.period == 'day' else 'monthly'} {what} limit for the AI bot has "
        f"been reached, so I can't take this request. It resets {when}. An admin can raise it with `/usage limit`."
    )


def _warning(budget: BudgetRecord, used: float) -> str:
    whose = {"user": "You have", "channel": "This channel has", "workspace": "This workspace has"}[budget.scope]
    return f"_Heads-up: {whose} used {used / budget.limit_value:.0%} of the limit of {_amount(budget)}._"
