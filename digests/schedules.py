"""Stored digest schedules: `/digest daily #channel 09:00` and `/digest weekly #channel mon 09:00`.

Schedules live in the database, so they survive restarts of every process. Workers look for due ones every
`SCHEDULE_CHECK_SECONDS`. A due schedule is claimed with a compare-and-set on `next_run_at`, so however many
workers look at once, each occurrence is queued once. Occurrences missed while no worker ran are not replayed:
the schedule runs once when workers come back, then continues from the next occurrence. An occurrence whose
digest cannot be queued (Slack or Redis down) is given back and tried again at the next check.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, String, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from bot.storage.ledger import Base
from digests.timespec import WEEKDAYS, zone

log = logging.getLogger(__name__)

MAX_SCHEDULES_PER_USER = 20
WINDOWS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


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

    def describe(self) -> str:
        """"daily at 09:00 (Europe/Paris)" or "weekly on Monday at 09:00 (UTC)"."""
        day = f" on {WEEKDAYS[self.weekday].title()}" if self.frequency == "weekly" and self.weekday is not None else ""
        return f"{self.frequency}{day} at {self.time_of_day} ({self.timezone})"

    @property
    def window(self) -> timedelta:
        return WINDOWS[self.frequency]


def next_occurrence(after: datetime, *, frequency: str, weekday: int | None, clock: time, tz_name: str) -> datetime:
    """The first time strictly after `after` when the schedule fires, in UTC."""
    tz = zone(tz_name)
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), clock, tzinfo=tz)
    for _ in range(9):
        if candidate.astimezone(timezone.utc) > after and (frequency == "daily" or candidate.weekday() == weekday):
            return candidate.astimezone(timezone.utc)
        candidate = datetime.combine(candidate.date() + timedelta(days=1), clock, tzinfo=tz)
    raise ValueError("no occurrence within a week")  # unreachable for valid schedules


@dataclass(frozen=True)
class Due:
    schedule: DigestSchedule
    run_at: datetime  # the occurrence being run (its window ends here)


class ScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def add(self, *, workspace: str, channel: str, channel_name: str, user: str, frequency: str,
            weekday: int | None, clock: time, tz_name: str, to_dm: bool, now: datetime) -> DigestSchedule:
        schedule = DigestSchedule(
            created_at=now, workspace=workspace, channel=channel, channel_name=channel_name, user=user,
            frequency=frequency, weekday=weekday, time_of_day=clock.strftime("%H:%M"), timezone=tz_name,
            to_dm=to_dm, next_run_at=next_occurrence(now, frequency=frequency, weekday=weekday, clock=clock,
                                                     tz_name=tz_name),
        )
        with self._session.begin() as session:
            session.add(schedule)
        return schedule

    def count_for(self, workspace: str, user: str) -> int:
        return len(self.for_user(workspace, user))

    def for_user(self, workspace: str, user: str) -> list[DigestSchedule]:
        with self._session() as session:
            return list(session.scalars(
                select(DigestSchedule)
                .where(DigestSchedule.workspace == workspace, DigestSchedule.user == user)
                .order_by(DigestSchedule.id)
            ))

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
            return list(session.scalars(
                select(DigestSchedule).where(DigestSchedule.next_run_at <= now).order_by(DigestSchedule.next_run_at)
            ))

    def claim(self, schedule: DigestSchedule, now: datetime) -> Due | None:
        """Move the schedule to its next occurrence; the caller that wins the move runs this one."""
        following = next_occurrence(now, frequency=schedule.frequency, weekday=schedule.weekday,
                                    clock=time.fromisoformat(schedule.time_of_day), tz_name=schedule.timezone)
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
            session.execute(update(DigestSchedule).where(DigestSchedule.id == due.schedule.id)
                            .values(next_run_at=due.schedule.next_run_at, last_run_at=due.schedule.last_run_at))

    def record_job(self, schedule_id: int, job_id: str) -> None:
        with self._session.begin() as session:
            session.execute(update(DigestSchedule).where(DigestSchedule.id == schedule_id)
                            .values(last_job_id=job_id))


def run_due(store: ScheduleStore, client_for: Callable[[str], Any], connection: Any, queue: Any, settings: Any,
            *, journal: Any, now: datetime) -> list[str]:
    """Queue a digest for every due schedule this process wins; returns the job ids queued.

    `client_for(workspace)` is the Slack client to post the schedule's progress message with.
    """
    from digests.submit import submit

    queued: list[str] = []
    for schedule in store.due(now):
        due = store.claim(schedule, now)
        if due is None:
            continue  # another worker took this occurrence
        window = schedule.window
        try:
            request = submit(
                client_for(schedule.workspace), connection, queue, settings, journal=journal,
                workspace=schedule.workspace, channel=schedule.channel,
                channel_name=schedule.channel_name, user=schedule.user, oldest=(now - window).timestamp(),
                latest=now.timestamp(), window_label=f"the last {window.days} days" if window.days > 1 else
                "the last 24 hours", to_dm=schedule.to_dm, trigger="schedule", schedule_id=schedule.id,
            )
        except Exception:
            log.exception("digest schedule %d: could not queue its digest; will try again", schedule.id)
            store.release(due)
            continue
        store.record_job(schedule.id, request.job_id)
        queued.append(request.job_id)
    return queued
