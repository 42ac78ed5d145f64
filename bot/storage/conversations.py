"""Conversation history per Slack thread, in the database, so a turn need not re-read the thread from Slack."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from bot.storage.columns import StoredText
from bot.storage.ledger import Base

log = logging.getLogger(__name__)

RECENT_TURNS = 200  # more than any prompt's history budget holds (patterns/chat.py trims to tokens)


class ConversationTurn(Base):
    __tablename__ = "conversation_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    workspace: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    text: Mapped[str] = mapped_column(StoredText)


class ConversationStore:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def turns(self, channel: str, thread_ts: str, *, last: int = RECENT_TURNS) -> list[ConversationTurn]:
        """The thread's `last` turns, oldest first (none if the database is unreachable: the answer goes on without).

        A DM is one long conversation: only its recent turns are read, as only they can fit a prompt."""
        try:
            with self._session() as session:
                newest_first = session.scalars(
                    select(ConversationTurn)
                    .where(ConversationTurn.channel == channel, ConversationTurn.thread_ts == thread_ts)
                    .order_by(ConversationTurn.id.desc())
                    .limit(last)
                )
                return list(newest_first)[::-1]
        except SQLAlchemyError as error:
            log.error("conversation history unavailable (%s); answering without it", type(error).__name__)
            return []

    def add(self, *, workspace: str, channel: str, thread_ts: str, role: str, text: str) -> None:
        try:
            with self._session.begin() as session:
                session.add(
                    ConversationTurn(
                        created_at=datetime.now(UTC),
                        workspace=workspace,
                        channel=channel,
                        thread_ts=thread_ts,
                        role=role,
                        text=text,
                    )
                )
        except SQLAlchemyError as error:
            log.error("could not store a conversation turn (%s)", type(error).__name__)
