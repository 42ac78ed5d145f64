"""The digest queue on Redis: enqueue with retries and callbacks, each user's jobs for `status`, and `cancel`.

The web processes only enqueue. Job ids are short (eight hex digits) because people type them in
`/digest cancel <id>`. Jobs and their results are kept for a week so `status` can show what happened.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from enum import Enum

import redis
from rq import Callback, Queue, Retry
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from bot.settings import Settings
from digests.request import DigestRequest, counted

log = logging.getLogger(__name__)

KEEP_SECONDS = 7 * 86_400
STATUS_LIMIT = 10
JOB_FUNCTION = "digests.job.run_digest"


def connect(url: str) -> redis.Redis:
    """A connection for RQ (bytes responses, as RQ requires)."""
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def digest_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.digest_queue, connection=connection)


def new_job_id(connection: redis.Redis) -> str:
    while True:
        job_id = secrets.token_hex(4)
        if not connection.exists(Job.key_for(job_id)):
            return job_id


def cancel_key(job_id: str) -> str:
    return f"digest:cancel:{job_id}"


def _index_key(workspace: str, user: str) -> str:
    return f"digest:jobs:{workspace}:{user}"


def enqueue(queue: Queue, request: DigestRequest, settings: Settings) -> Job:
    """Queue one digest job; failed attempts are retried after `DIGEST_RETRY_DELAYS`."""
    delays = settings.digest_retry_schedule
    job = queue.enqueue(
        JOB_FUNCTION,
        request.to_dict(),
        job_id=request.job_id,
        job_timeout=settings.digest_job_timeout_seconds,
        result_ttl=KEEP_SECONDS,
        failure_ttl=KEEP_SECONDS,
        retry=Retry(max=len(delays), interval=delays) if delays else None,
        on_failure=Callback("digests.job.on_failure", timeout=60),
        on_stopped=Callback("digests.job.on_stopped", timeout=60),
        description=f"digest of {request.channel} for {request.window_label}",
        meta={
            "user": request.user,
            "workspace": request.workspace,
            "channel": request.channel,
            "window": request.window_label,
            "destination": request.destination,
            "progress_ts": request.progress_ts,
            "phase": "queued",
            "trigger": request.trigger,
        },
    )
    list_for_status(queue.connection, request.workspace, request.user, job.id, time.time())
    return job


def list_for_status(connection: redis.Redis, workspace: str, user: str, job_id: str, queued_at: float) -> None:
    """Add the job to its user's `/digest status` list (a job already listed keeps its time)."""
    key = _index_key(workspace, user)
    with connection.pipeline() as pipe:
        pipe.zadd(key, {job_id: queued_at}, nx=True)
        pipe.zremrangebyscore(key, 0, time.time() - KEEP_SECONDS)
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()


@dataclass(frozen=True)
class JobView:
    """One job as `/digest status` shows it."""

    id: str
    channel: str
    window: str
    state: str  # plain words: "queued", "summarizing (3 of 8 parts)", "failed: …"
    link: str | None
    queued_at: float


def user_jobs(connection: redis.Redis, workspace: str, user: str, limit: int = STATUS_LIMIT) -> list[JobView]:
    """The user's most recent jobs, newest first (jobs that expired are dropped from the index)."""
    key = _index_key(workspace, user)
    entries = connection.zrevrange(key, 0, limit * 2, withscores=True)
    ids = [raw.decode() for raw, _ in entries]
    jobs = Job.fetch_many(ids, connection=connection) if ids else []
    views: list[JobView] = []
    for (raw, score), job in zip(entries, jobs):
        if job is None:
            connection.zrem(key, raw)
            continue
        meta = job.meta
        views.append(
            JobView(
                id=job.id,
                channel=meta.get("channel", ""),
                window=meta.get("window", ""),
                state=describe(job),
                link=meta.get("link"),
                queued_at=score,
            )
        )
    return views[:limit]


def describe(job: Job) -> str:
    """What the job is doing or how it ended, in plain words."""
    meta, status = job.meta, job.get_status(refresh=False)
    outcome = meta.get("outcome")  # written by the job as it ends, a moment before RQ records the end
    if outcome == "cancelled" or status in (JobStatus.CANCELED, JobStatus.STOPPED):
        return "cancelled"
    if outcome == "failed" or status == JobStatus.FAILED:
        return f"failed: {meta.get('error') or 'something went wrong on my side'}"
    if outcome in ("posted", "empty") or status == JobStatus.FINISHED:
        return "done: no messages in the window" if outcome == "empty" else "done"
    if status == JobStatus.SCHEDULED:
        reason = meta.get("last_error")
        return "waiting to try again" + (f" (last attempt: {reason})" if reason else "")
    if status == JobStatus.STARTED:
        return _phase(meta)
    return "queued"


def _phase(meta: dict) -> str:
    read = meta.get("messages_read", 0)
    if meta.get("phase") in ("summarizing", "merging"):
        done, total = meta.get("parts_done", 0), meta.get("parts_total")
        parts = f"{done} of {total} parts" if total else f"{done} parts"
        return f"summarizing ({counted(read, 'message')} read, {parts})"
    if meta.get("phase") == "posting":
        return "posting"
    return f"reading ({counted(read, 'message')} so far)"


class CancelOutcome(Enum):
    NOT_FOUND = "not_found"
    NOT_YOURS = "not_yours"
    FINISHED = "finished"
    CANCELLED = "cancelled"  # it had not started: it never will
    STOPPING = "stopping"  # it is running: its worker stops it and edits the progress message


def cancel(connection: redis.Redis, job_id: str, *, workspace: str, user: str) -> tuple[CancelOutcome, Job | None]:
    """Cancel the user's job. A running job is stopped by its worker; a flag also stops any later attempt."""
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return CancelOutcome.NOT_FOUND, None
    if job.meta.get("workspace") != workspace or job.meta.get("user") != user:
        return CancelOutcome.NOT_YOURS, job
    status = job.get_status()
    if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED) or job.meta.get(
        "outcome"
    ) in ("posted", "empty"):  # posted; the worker is still wrapping up
        return CancelOutcome.FINISHED, job
    connection.set(cancel_key(job_id), user, ex=KEEP_SECONDS)
    if status == JobStatus.STARTED:
        try:
            send_stop_job_command(connection, job_id)
        except InvalidJobOperation:  # between attempts: the flag stops the next one
            log.info("digest %s: no worker holds it right now; the cancel flag will stop it", job_id)
        return CancelOutcome.STOPPING, job
    try:
        job.cancel()
    except InvalidJobOperation:
        return CancelOutcome.FINISHED, job
    job.meta["outcome"] = "cancelled"
    job.save_meta()
    return CancelOutcome.CANCELLED, job
