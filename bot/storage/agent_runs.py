"""Agent runs per Slack thread: each run's task and its tool-call transcript, so follow-ups can build on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from bot.model.gateway import Message
from bot.storage.columns import StoredText
from bot.storage.ledger import Base


class AgentRunRecord(Base):
    __tablename__ = "agent_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    workspace: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    task: Mapped[str] = mapped_column(StoredText)
    transcript: Mapped[str] = mapped_column(StoredText)  # JSON: the run's messages after its user turn
    steps: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(32))


class AgentRunStore:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def runs(self, channel: str, thread_ts: str) -> list[AgentRunRecord]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(AgentRunRecord)
                    .where(AgentRunRecord.channel == channel, AgentRunRecord.thread_ts == thread_ts)
                    .order_by(AgentRunRecord.id)
                )
            )

    def has_runs(self, channel: str, thread_ts: str) -> bool:
        with self._session() as session:
            return (
                session.scalar(
                    select(AgentRunRecord.id)
                    .where(AgentRunRecord.channel == channel, AgentRunRecord.thread_ts == thread_ts)
                    .limit(1)
                )
                is not None
            )

    def add(
        self,
        *,
        workspace: str,
        channel: str,
        thread_ts: str,
        request_id: str,
        task: str,
        transcript: list[Message],
        steps: int,
        status: str,
    ) -> None:
        """`transcript`: the run's messages after its user turn, clipped by the caller."""
        with self._session.begin() as session:
            session.add(
                AgentRunRecord(
                    created_at=datetime.now(UTC),
                    workspace=workspace,
                    channel=channel,
                    thread_ts=thread_ts,
                    request_id=request_id[:64],
                    task=task,
                    transcript=json.dumps(transcript),
                    steps=steps,
                    status=status[:32],
                )
            )
