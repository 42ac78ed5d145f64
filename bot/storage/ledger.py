"""The usage ledger: one row per user request, on SQLite (default) or PostgreSQL.

The schema is owned by Alembic (`bot/migrations`); `Ledger.migrate()` brings a database to the latest revision.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from bot import metrics
from bot.model.metering import Meter
from bot.storage.columns import StoredText
from bot.storage.ledger_writer import Row, RowWriter

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
MAX_LOGGED_CHARS = 50_000  # prompts and answers are logged for evaluation, clipped to keep rows bounded


def _clip(text: str) -> str:
    return text if len(text) <= MAX_LOGGED_CHARS else text[:MAX_LOGGED_CHARS] + "…"


class Base(DeclarativeBase):
    pass


class RequestRecord(Base):
    """One user request (a command, a mention, a DM, a job) and what it cost."""

    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    request_id: Mapped[str] = mapped_column(String(64), default="")
    workspace: Mapped[str] = mapped_column(String(32), default="", index=True)
    channel: Mapped[str] = mapped_column(String(32), default="")
    user: Mapped[str] = mapped_column(String(32), default="")
    pattern: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(128), default="")
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    tokens_estimated: Mapped[bool] = mapped_column(Boolean, default=False)  # the model server reported no usage
    status: Mapped[str] = mapped_column(String(16))  # ok | error | refused
    error_kind: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prompt: Mapped[str | None] = mapped_column(StoredText, nullable=True)  # JSON: the messages of the final model call
    response: Mapped[str | None] = mapped_column(StoredText, nullable=True)
    context: Mapped[str | None] = mapped_column(StoredText, nullable=True)  # JSON: retrieved passages, tool results


class FeedbackVote(Base):
    __tablename__ = "feedback_votes"
    __table_args__ = (UniqueConstraint("request_id", "user", name="uq_feedback_vote_per_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    workspace: Mapped[str] = mapped_column(String(32), default="")
    user: Mapped[str] = mapped_column(String(32))
    vote: Mapped[int] = mapped_column(Integer)  # +1 or -1


@dataclass(frozen=True)
class PatternStats:
    pattern: str
    requests: int
    errors: int
    avg_latency_ms: float
    p95_latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cache_hit_rate: float
    thumbs_up: int = 0
    thumbs_down: int = 0


class Ledger:
    """The ledger of one process. With `write_behind` (long-running bot processes), `record` only queues the row
    and a background thread writes rows in batches (`bot.storage.ledger_writer`); otherwise it writes at once."""

    def __init__(self, database_url: str, *, write_behind: bool = False) -> None:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self.lost_rows = 0
        self._writer = RowWriter(self._insert, on_lost=self._count_lost) if write_behind else None

    def migrate(self) -> None:
        """Upgrade the database to the latest schema (idempotent)."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def record(self, meter: Meter, *, status: str, error_kind: str | None = None) -> None:
        """Log the request's row. A database outage never fails the user's request: without write-behind the row
        is counted lost and logged; with it, the row waits and is written once the database is back."""
        metrics.observe(meter, status, error_kind)
        row: Row = {
            "created_at": datetime.now(UTC),
            "request_id": meter.request_id[:64],
            "workspace": meter.workspace,
            "channel": meter.channel,
            "user": meter.user,
            "pattern": meter.pattern,
            "trigger": meter.trigger,
            "model": meter.model,
            "prompt_tokens": meter.prompt_tokens,
            "completion_tokens": meter.completion_tokens,
            "cost_usd": meter.cost_usd,
            "latency_ms": meter.elapsed_ms(),
            "ttft_ms": meter.ttft_ms,
            "cache_hit": meter.cache_hit,
            "tokens_estimated": meter.tokens_estimated,
            "status": status,
            "error_kind": error_kind,
            "prompt": _clip(json.dumps(meter.prompt, ensure_ascii=False)) if meter.prompt else None,
            "response": _clip(meter.response) if meter.response else None,
            "context": _clip(json.dumps(meter.context, ensure_ascii=False)) if meter.context else None,
        }
        log.info(
            "request pattern=%s trigger=%s status=%s error=%s tokens=%d+%d cost=%.6f latency_ms=%.0f cache=%s",
            row["pattern"],
            row["trigger"],
            status,
            error_kind,
            row["prompt_tokens"],
            row["completion_tokens"],
            row["cost_usd"],
            row["latency_ms"],
            row["cache_hit"],
        )
        if self._writer is not None:
            self._writer.put(row)
            return
        try:
            self._insert([row])
        except Exception as error:  # the database's or the row's (a value no driver can encode): never the user's
            log.error("ledger write failed (%s)", type(error).__name__)
            self._count_lost(1)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the rows recorded so far are in the database (immediate without write-behind)."""
        return self._writer.flush(timeout) if self._writer is not None else True

    def close(self) -> None:
        """Write what is waiting (bounded), then stop writing behind; called at exit of a bot process."""
        if self._writer is not None:
            self._writer.close()

    def _insert(self, rows: list[Row]) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(RequestRecord), rows)

    def _count_lost(self, count: int) -> None:
        self.lost_rows += count
        log.error("%d ledger rows could not be written; %d rows lost so far", count, self.lost_rows)

    def rows(self, *, since: datetime | None = None) -> list[RequestRecord]:
        query = select(RequestRecord).order_by(RequestRecord.id)
        if since is not None:
            query = query.where(RequestRecord.created_at >= since)
        with self._session() as session:
            return list(session.scalars(query))

    def stats(self, *, since: timedelta, workspace: str | None = None) -> list[PatternStats]:
        """Per-pattern figures over the window; aggregated in SQL so it scales with the table."""
        start = datetime.now(UTC) - since
        window = RequestRecord.created_at >= start
        if workspace is not None:
            window = window & (RequestRecord.workspace == workspace)
        query = (
            select(
                RequestRecord.pattern,
                func.count(),
                func.sum(func.cast(RequestRecord.status == "error", Integer)),
                func.avg(RequestRecord.latency_ms),
                func.sum(RequestRecord.prompt_tokens),
                func.sum(RequestRecord.completion_tokens),
                func.sum(RequestRecord.cost_usd),
                func.avg(func.cast(RequestRecord.cache_hit, Integer)),
            )
            .where(window)
            .group_by(RequestRecord.pattern)
            .order_by(RequestRecord.pattern)
        )
        votes_query = (
            select(
                RequestRecord.pattern,
                func.sum(func.cast(FeedbackVote.vote > 0, Integer)),
                func.sum(func.cast(FeedbackVote.vote < 0, Integer)),
            )
            .join(FeedbackVote, FeedbackVote.request_id == RequestRecord.request_id)
            .where(window)
            .group_by(RequestRecord.pattern)
        )
        result = []
        with self._session() as session:
            votes = {pattern: (int(up or 0), int(down or 0)) for pattern, up, down in session.execute(votes_query)}
            for pattern, count, errors, avg_ms, p_tok, c_tok, cost, hit_rate in session.execute(query):
                result.append(
                    PatternStats(
                        pattern=pattern,
                        requests=count,
                        errors=int(errors or 0),
                        avg_latency_ms=float(avg_ms or 0),
                        p95_latency_ms=self._percentile(session, pattern, window, count, 0.95),
                        prompt_tokens=int(p_tok or 0),
                        completion_tokens=int(c_tok or 0),
                        cost_usd=float(cost or 0),
                        cache_hit_rate=float(hit_rate or 0),
                        thumbs_up=votes.get(pattern, (0, 0))[0],
                        thumbs_down=votes.get(pattern, (0, 0))[1],
                    )
                )
        return result

    @staticmethod
    def _percentile(session, pattern: str, window, count: int, q: float) -> float:  # type: ignore[no-untyped-def]
        """Nearest-rank percentile, portable across SQLite and PostgreSQL."""
        rank = max(0, min(count - 1, int(round(q * count + 0.5)) - 1))
        value = session.scalar(
            select(RequestRecord.latency_ms)
            .where(RequestRecord.pattern == pattern, window)
            .order_by(RequestRecord.latency_ms)
            .offset(rank)
            .limit(1)
        )
        return float(value or 0)
