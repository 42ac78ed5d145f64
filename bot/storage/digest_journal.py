"""The digest journal: every queued digest, in the database, until it is done.

RQ keeps its queue in Redis. A Redis that restarts without its data (no persistence, or a new instance) forgets
the digests still waiting in the queue, and their requesters would watch "is queued…" forever. The journal is the
record outside Redis: the workers look for open digests that Redis no longer knows and queue them again, with the
same id and progress message (`requeue_forgotten`). A digest is closed when its job ends for good (posted, empty,
cancelled or failed after its retries).

A journal write that fails is logged and does not fail the digest: the journal only adds durability.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, Text, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from bot.storage.ledger import Base

log = logging.getLogger(__name__)

OLDEST_REQUEUED = timedelta(days=1)  # older open digests are left alone (their windows are stale by now)


class DigestJobRecord(Base):
    __tablename__ = "digest_jobs"

    job_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    request: Mapped[str] = mapped_column(Text)  # DigestRequest.to_dict(), as JSON
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    missing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # from Redis


class DigestJournal:
    def __init__(self, engine: Engine) -> None:
        self._session = sessionmaker(engine, expire_on_commit=False)

    def opened(self, job_id: str, request: dict[str, Any]) -> None:
        self._write(
            "record",
            lambda session: session.merge(
                DigestJobRecord(job_id=job_id, queued_at=datetime.now(UTC), request=json.dumps(request))
            ),
        )

    def closed(self, job_id: str) -> None:
        self._write(
            "close",
            lambda session: session.execute(
                update(DigestJobRecord)
                .where(DigestJobRecord.job_id == job_id, DigestJobRecord.done_at.is_(None))
                .values(done_at=datetime.now(UTC))
            ),
        )

    def requeue_forgotten(
        self,
        known: Callable[[str], bool],
        requeue: Callable[[dict[str, Any]], None],
        *,
        now: datetime,
        grace: timedelta,
    ) -> list[str]:
        """Queue again each open digest that Redis (`known(job_id)`) has not known for `grace`; returns their ids.

        Missing once is not enough: a job that runs on while Redis restarts writes itself back when Redis answers
        again. Several workers may look at once; each requeue is claimed by one of them.
        """
        with self._session() as session:
            open_digests = session.execute(
                select(DigestJobRecord.job_id, DigestJobRecord.request, DigestJobRecord.missing_since).where(
                    DigestJobRecord.done_at.is_(None), DigestJobRecord.queued_at > now - OLDEST_REQUEUED
                )
            ).all()
        requeued = []
        for job_id, request, missing_since in open_digests:
            if known(job_id):
                if missing_since is not None:
                    self._set_missing(job_id, missing_since, None)
            elif missing_since is None:
                self._set_missing(job_id, None, now)
            elif _aware(missing_since) <= now - grace and self._set_missing(job_id, missing_since, None):
                log.warning("digest %s: the job queue forgot it (Redis restarted empty?); queueing it again", job_id)
                requeue(json.loads(request))
                requeued.append(job_id)
        return requeued

    def _set_missing(self, job_id: str, was: datetime | None, value: datetime | None) -> bool:
        """Compare-and-set `missing_since`: True if this process changed it from `was`."""
        with self._session.begin() as session:
            column = DigestJobRecord.missing_since
            changed = session.execute(
                update(DigestJobRecord)
                .where(
                    DigestJobRecord.job_id == job_id,
                    column.is_(None) if was is None else column == was,
                )
                .values(missing_since=value)
            )
            return bool(changed.rowcount)

    def _write(self, what: str, change: Callable[[Any], Any]) -> None:
        try:
            with self._session.begin() as session:
                change(session)
        except SQLAlchemyError as error:
            log.error(
                "digest journal: could not %s a digest (%s); it is not protected against a Redis restart",
                what,
                type(error).__name__,
            )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite drops the zone
