"""Feedback votes on answers: one per user and answer, and the export of disliked answers for evaluation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import sessionmaker

from bot.storage.ledger import FeedbackVote, Ledger, RequestRecord


class FeedbackStore:
    def __init__(self, ledger: Ledger) -> None:
        self.engine = ledger.engine
        self._session = sessionmaker(ledger.engine, expire_on_commit=False)

    def vote(self, *, request_id: str, workspace: str, user: str, vote: int) -> None:
        """One vote per user and answer; voting again changes it."""
        values = dict(
            created_at=datetime.now(UTC),
            request_id=request_id[:64],
            workspace=workspace,
            user=user,
            vote=1 if vote > 0 else -1,
        )
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(FeedbackVote)
            .values(**values)
            .on_conflict_do_update(
                index_elements=["request_id", "user"],
                set_={"vote": values["vote"], "created_at": values["created_at"]},
            )
        )
        with self._session.begin() as session:
            session.execute(statement)

    def totals(self, request_id: str) -> tuple[int, int]:
        with self._session() as session:
            votes = list(session.scalars(select(FeedbackVote.vote).where(FeedbackVote.request_id == request_id)))
        return sum(v > 0 for v in votes), sum(v < 0 for v in votes)

    def disliked(self, *, since: timedelta) -> Iterator[dict[str, Any]]:
        """Answers with more 👎 than 👍 in the window, with what produced them, for evaluation."""
        start = datetime.now(UTC) - since
        score = func.sum(FeedbackVote.vote)
        query = (
            select(RequestRecord, score, func.count())
            .join(FeedbackVote, FeedbackVote.request_id == RequestRecord.request_id)
            .where(RequestRecord.created_at >= start)
            .group_by(RequestRecord.id)
            .having(score < 0)
            .order_by(RequestRecord.id)
        )
        with self._session() as session:
            for row, total, count in session.execute(query):
                yield {
                    "request_id": row.request_id,
                    "time": row.created_at.isoformat(),
                    "workspace": row.workspace,
                    "channel": row.channel,
                    "pattern": row.pattern,
                    "model": row.model,
                    "votes": {"down": (count - total) // 2, "up": (count + total) // 2},
                    "prompt": json.loads(row.prompt) if row.prompt else None,
                    "response": row.response,
                    "context": json.loads(row.context) if row.context else None,
                }
