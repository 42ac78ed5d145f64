"""Stored digest schedules (`/digest daily|weekly ...`): the table, and claiming due ones exactly once.

A due schedule is claimed with a compare-and-set on `next_run_at`, so however many workers look at once, each
occurrence is queued once. When to run next is the caller's business (`digests.schedules`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import Boolean, DateTime, Integer, String, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from bot.storage.ledger import Base


class DigestSchedule(Base):
    __tablename__ = "digest_schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    workspace: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(32))
    channel_name: Mapped[str] = mapped_column(String(128), default="")
    user: Mapped[str] = mapped_column(String(32))
    frequency: Mapped[str] = mapped_column(String(8))  # daily | weekly
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # weekly: Monday = 0
    time_of_day: Mapped[str] = mapped_column(String(5))  # "09:00" in `timezone`
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    to_dm: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


@dataclass(frozen=True)
class Due:
    schedule: DigestSchedule
    run_at: datetime  # the occurrence being run (its window ends here)


class ScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def add(
        self,
        *,
        workspace: str,
        channel: str,
        channel_name: str,
        user: str,
        frequency: str,
        weekday: int | None,
        clock: time,
        tz_name: str,
        to_dm: bool,
        now: datetime,
        next_run_at: datetime,
    ) -> DigestSchedule:
        schedule = DigestSchedule(
            created_at=now,
            workspace=workspace,
            channel=channel,
            channel_name=channel_name,
            user=user,
            frequency=frequency,
            weekday=weekday,
            time_of_day=clock.strftime("%H:%M"),
            timezone=tz_name,
            to_dm=to_dm,
            next_run_at=next_run_at,
        )
        with self._session.begin() as session:
            session.add(schedule)
        return schedule

    def count_for(self, workspace: str, user: str) -> int:
        return len(self.for_user(workspace, user))

    def for_user(self, workspace: str, user: str) -> list[DigestSchedule]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(DigestSchedule)
                    .where(DigestSchedule.workspace == workspace, DigestSchedule.user == user)
                    .order_by(DigestSchedule.id)
                )
            )

    def get(self, schedule_id: int) -> DigestSchedule | None:
        with self._session() as session:
            return session.get(DigestSchedule, schedule_id)

    def remove(self, schedule_id: int) -> None:
        with self._session.begin() as session:
            schedule = session.get(DigestSchedule, schedule_id)
            if schedule is not None:
                session.delete(schedule)

    def due(self, now: datetime) -> list[DigestSchedule]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(DigestSchedule).where(DigestSchedule.next_run_at <= now).order_by(DigestSchedule.next_run_at)
                )
            )

    def claim(self, schedule: DigestSchedule, now: datetime, following: datetime) -> Due | None:
        """Move the schedule to `following`, its next occurrence; the caller that wins the move runs this one."""
        with self._session.begin() as session:
            moved = session.execute(
                update(DigestSchedule)
                .where(DigestSchedule.id == schedule.id, DigestSchedule.next_run_at == schedule.next_run_at)
                .values(next_run_at=following, last_run_at=now)
            ).rowcount
        return Due(schedule, now) if moved == 1 else None

    def release(self, due: Due) -> None:
        """Give a claimed occurrence back (its digest could not be queued), so the next check tries again."""
        with self._session.begin() as session:
            session.execute(
                update(DigestSchedule)
                .where(DigestSchedule.id == due.schedule.id)
                .values(next_run_at=due.schedule.next_run_at, last_run_at=due.schedule.last_run_at)
            )

    def record_job(self, schedule_id: int, job_id: str) -> None:
        with self._session.begin() as session:
            session.execute(update(DigestSchedule).where(DigestSchedule.id == schedule_id).values(last_job_id=job_id))
