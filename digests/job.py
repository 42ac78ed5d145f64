"""The digest job: read a channel's window, map-reduce it into a digest, replace the progress message with it.

Reliability, in one place:
- Transient failures (Slack 429/5xx and network errors, model timeouts, rate limits and 5xx) were already retried
  with backoff by the Slack and OpenAI clients; if they persist, the job fails and RQ retries it after
  `DIGEST_RETRY_DELAYS`. Permanent ones (the bot was removed from the channel, bad model credentials) are not
  retried. Before each retry the progress message says what happened; after the last one it says why, in plain
  words, and `/digest status` shows it.
- A worker killed mid-job leaves the job in RQ's started registry; another worker finds it once its heartbeat
  lapses and retries it. The retry edits the same progress message, and the post marker (`digests/delivery.py`)
  guarantees the digest is written once. Model answers are cached, so a retry re-pays little.
- `/digest cancel` sets a flag every attempt checks, and stops a running attempt through its worker.
- Redis going away mid-job (a restart, a failover) is waited out: progress edits and cancel checks are skipped
  while it is unreachable, and the final edit waits for it (up to `REDIS_WAIT_SECONDS`), because the post marker
  that keeps the digest single lives there.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.slack.client import workspace_client
from bot.slack.format import slack_error_message
from bot.storage.digest_journal import DigestJournal
from digests import context
from digests.costs import cost_line, with_cost_line
from digests.delivery import MAX_BLOCKS, Permalinks, PostMarker, ProgressMessage, digest_message
from digests.queue import cancel_key, list_for_status
from digests.reader import ChannelReader, Window, history_budget
from digests.request import DigestRequest, counted
from patterns.digest import Digest, DigestCancelled, NothingToDigest, Progress, digest
from services import Services

log = logging.getLogger(__name__)

TRANSIENT_MODEL_ERRORS = {"timeout", "rate_limited", "server_error", "connection", "empty_answer", "stream_broken"}
TRANSIENT_SLACK_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}

REDIS_WAIT_SECONDS = 300  # how long a finished job waits for Redis to come back before it gives up

T = TypeVar("T")

_meters: dict[str, Meter] = {}  # this process's running jobs, so a failure callback can record what was spent


def run_digest(request: dict[str, Any]) -> dict[str, Any]:
    """RQ entry point (`digests.job.run_digest`), in a process the worker forks for this one job."""
    job = get_current_job()
    assert job is not None, "run_digest runs on an RQ worker"
    # What the process inherited from the worker (modules, clients, services) lives as long as the job: without
    # this, a full collection walks all of it mid-digest (about 0.2 s with every thread of the process stopped).
    gc.freeze()
    return DigestJob(DigestRequest.from_dict(request), context.services(), job).run()


def digest_channel(
    services: Services,
    client: WebClient,
    *,
    team: str,
    channel: str,
    window: Window,
    meter: Meter,
    on_progress: Callable[[Progress], None] = lambda progress: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Digest:
    """Read and digest one channel's window (the job's core; the command line uses it directly)."""
    settings = services.settings
    reader = ChannelReader(
        client,
        history_budget(services.redis, settings.slack_history_per_minute),
        team=team,
        channel=channel,
        window=window,
        should_stop=should_stop,
    )
    return digest(
        reader.threads(),
        gateway=services.gateway,
        meter=meter,
        context_tokens=settings.model_context_tokens,
        concurrency=settings.digest_model_concurrency,
        on_progress=on_progress,
        should_stop=should_stop,
    )


class DigestJob:
    def __init__(self, request: DigestRequest, services: Services, job: Job) -> None:
        if services.redis is None:
            raise RuntimeError("digest jobs need REDIS_URL")
        self.request, self.services, self.job = request, services, job
        self.redis: redis.Redis = services.redis
        self.client = workspace_client(services.settings, services.ledger.engine, request.workspace)
        self.marker = PostMarker(self.redis, request.job_id)
        self.journal = DigestJournal(services.ledger.engine)
        self.progress = ProgressMessage(
            self.client,
            history_budget(self.redis, services.settings.slack_history_per_minute),
            team=request.workspace,
            channel=request.destination,
            ts=request.progress_ts,
            interval=services.settings.digest_progress_seconds,
            finished=self._finished,
        )
        self.meter = Meter(
            workspace=request.workspace,
            channel=request.channel,
            user=request.user,
            pattern="digest",
            trigger=request.trigger,
            request_id=request.job_id,
        )
        self._last_meta = 0.0
        self._cancel_checked, self._cancel_seen = -1.0, False
        self._meta_lock = threading.Lock()

    def run(self) -> dict[str, Any]:
        request = self.request
        if self.marker.state() == "posted":
            log.info("digest %s: already posted by an earlier attempt; nothing to do", request.job_id)
            self.journal.closed(request.job_id)
            return {"outcome": self.job.meta.get("outcome", "posted")}
        if self._cancelled():
            return self._cancel()
        _meters[request.job_id] = self.meter
        attempt = self.job.meta.get("attempts", 0) + 1
        self._meta(phase="reading", attempts=attempt, messages_read=0, parts_done=0, parts_total=None)
        self.progress.update(
            f":hourglass_flowing_sand: {request.title}: reading the channel… · id `{request.job_id}`", force=True
        )
        try:
            result = digest_channel(
                self.services,
                self.client,
                team=request.workspace,
                channel=request.channel,
                window=Window(request.oldest, request.latest),
                meter=self.meter,
                on_progress=self._on_progress,
                should_stop=self._cancelled,
            )
        except NothingToDigest:
            text = f"No messages from people in <#{request.channel}> in {request.window_label}, so there is no digest."
            return self._finish(text, None, outcome="empty", status="refused", error_kind="empty_window")
        except DigestCancelled:
            return self._cancel()
        except Exception as error:
            if not is_transient(error):
                self.job.retries_left = 0  # retrying cannot help: fail now and say why
            raise
        self._meta(phase="posting")
        text, blocks = digest_message(self._heading(), result, Permalinks(self.client, request.channel))
        text, blocks = with_cost_line(text, blocks, cost_line(request.estimated_cost, self.meter.cost_usd), MAX_BLOCKS)
        outcome = self._finish(text, blocks, outcome="posted", status="ok", error_kind=None)
        outcome.update(messages=result.messages, threads=result.threads, parts=result.parts)
        return outcome

    # Steps -------------------------------------------------------------------------------------------------

    def _finish(
        self, text: str, blocks: list[dict] | None, *, outcome: str, status: str, error_kind: str | None
    ) -> dict[str, Any]:
        if self._when_redis_answers(self.marker.begin, "post the digest"):
            self.progress.replace(text, blocks)
            if self._when_redis_answers(self.marker.done, "mark the digest posted"):
                self.services.ledger.record(self.meter, status=status, error_kind=error_kind)
                self.journal.closed(self.request.job_id)
        _meters.pop(self.request.job_id, None)
        self._meta(phase="done", outcome=outcome, link=self._link())
        self._list_for_status()
        return {"outcome": outcome}

    def _cancel(self) -> dict[str, Any]:
        by = (
            self._when_redis_answers(lambda: self.redis.get(cancel_key(self.request.job_id)), "say who cancelled")
            or b""
        ).decode()
        if self._when_redis_answers(self.marker.begin, "post the cancellation"):
            self.progress.replace(cancelled_text(self.request, by))
            if self._when_redis_answers(self.marker.done, "mark the cancellation posted"):
                self.services.ledger.record(self.meter, status="error", error_kind="cancelled")
                self.journal.closed(self.request.job_id)
        _meters.pop(self.request.job_id, None)
        self._meta(phase="done", outcome="cancelled")
        self._list_for_status()
        return {"outcome": "cancelled"}

    def _on_progress(self, progress: Progress) -> None:
        request = self.request
        if progress.phase == "reading":
            state = f"reading… {counted(progress.messages_read, 'message')} so far"
        else:
            total = f" of {progress.parts_total}" if progress.parts_total else ""
            state = f"{counted(progress.messages_read, 'message')} read, summarized {progress.parts_done}{total} parts"
        self.progress.update(f":hourglass_flowing_sand: {request.title}: {state} · id `{request.job_id}`")
        meta = self.job.meta
        changed = (progress.phase, progress.parts_total) != (meta.get("phase"), meta.get("parts_total"))
        self._meta(
            phase=progress.phase,
            messages_read=progress.messages_read,
            parts_done=progress.parts_done,
            parts_total=progress.parts_total,
            throttle=not changed,
        )

    def _heading(self) -> str:
        return f"{self.request.title} · {self.request.requester}"

    def _link(self) -> str | None:
        try:
            return self.client.chat_getPermalink(channel=self.request.destination, message_ts=self.request.progress_ts)[
                "permalink"
            ]
        except SlackApiError:
            return None

    def _cancelled(self) -> bool:
        """Whether `/digest cancel` flagged this job (asked of Redis at most twice a second)."""
        now = time.monotonic()
        if now - self._cancel_checked >= 0.5:
            self._cancel_checked = now
            try:
                self._cancel_seen = bool(self.redis.exists(cancel_key(self.request.job_id)))
            except redis.RedisError as error:  # Redis is restarting: the next check will see a cancel
                log.warning("digest %s: could not check for a cancel (%s)", self.request.job_id, type(error).__name__)
        return self._cancel_seen

    def _finished(self) -> bool:
        """Whether progress edits must stop (also while Redis cannot say whether another attempt posted)."""
        try:
            return self.marker.state() is not None or self._cancelled()
        except redis.RedisError as error:
            log.warning(
                "digest %s: progress edit skipped, Redis unreachable (%s)", self.request.job_id, type(error).__name__
            )
            return True

    def _when_redis_answers(self, action: Callable[[], T], doing: str) -> T:
        """`action()`, retried while Redis is unreachable (a restart takes seconds) for up to `REDIS_WAIT_SECONDS`."""
        deadline, delay = time.monotonic() + REDIS_WAIT_SECONDS, 0.5
        while True:
            try:
                return action()
            except (redis.ConnectionError, redis.TimeoutError) as error:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning(
                    "digest %s: Redis unreachable (%s); waiting for it to %s",
                    self.request.job_id,
                    type(error).__name__,
                    doing,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _list_for_status(self) -> None:
        """List the job for `/digest status` again, should Redis have restarted empty while it ran."""
        request, created = self.request, self.job.created_at
        try:
            list_for_status(
                self.redis,
                request.workspace,
                request.user,
                request.job_id,
                created.timestamp() if created else time.time(),
            )
        except redis.RedisError as error:
            log.warning("digest %s: could not list it for status (%s)", request.job_id, type(error).__name__)

    def _meta(self, *, throttle: bool = False, **values: Any) -> None:
        with self._meta_lock:
            now = time.monotonic()
            if throttle and now - self._last_meta < 1.0:
                return
            self._last_meta = now
            self.job.meta.update(values)
            try:
                self.job.save_meta()
            except redis.RedisError as error:
                log.warning("digest %s: could not save progress (%s)", self.request.job_id, type(error).__name__)


# Failure and stop callbacks (run by the worker: in the job's process, or in the one that found it abandoned) --


def on_failure(job: Job, connection: redis.Redis, exc_type: type, exc_value: BaseException, traceback: Any) -> None:
    request = DigestRequest.from_dict(job.args[0])
    services = context.services()
    marker = PostMarker(connection, job.id)
    if marker.state() == "posted":
        return
    reason = plain_reason(exc_value, services.settings.digest_job_timeout_seconds)
    kind = error_kind(exc_value)
    progress = _closing_progress(services, request)
    if job.retries_left:
        delay = job.get_retry_interval()
        when = f"in {delay} seconds" if delay else "now"
        log.warning("digest %s: attempt failed (%s); retrying %s", job.id, kind, when)
        job.meta.update(last_error=reason, phase="retrying")
        job.save_meta()
        progress.update(
            f":hourglass_flowing_sand: {request.title}: that attempt failed. {reason} Trying again "
            f"{when}… · id `{job.id}`",
            force=True,
        )
        return
    log.error("digest %s: failed for good (%s)", job.id, kind)
    job.meta.update(error=reason, outcome="failed", phase="done")
    job.save_meta()
    try:
        mention = f"<@{request.user}> " if request.user else ""
        progress.replace(
            f":warning: {mention}I couldn't make the {request.title[0].lower()}"
            f"{request.title[1:]}. {reason} (id `{job.id}`)"
        )
    except SlackApiError as error:
        log.error("digest %s: could not tell the requester: %s", job.id, error.response.get("error"))
    meter = _meters.pop(job.id, None) or Meter(
        workspace=request.workspace,
        channel=request.channel,
        user=request.user,
        pattern="digest",
        trigger=request.trigger,
        request_id=job.id,
    )
    services.ledger.record(meter, status="error", error_kind=kind)
    DigestJournal(services.ledger.engine).closed(job.id)


def on_stopped(job: Job, connection: redis.Redis) -> None:
    """The job was stopped by `/digest cancel` while it ran."""
    request = DigestRequest.from_dict(job.args[0])
    services = context.services()
    marker = PostMarker(connection, job.id)
    if not marker.begin():
        return
    by = (connection.get(cancel_key(job.id)) or b"").decode()
    _closing_progress(services, request).replace(cancelled_text(request, by))
    job.meta.update(outcome="cancelled", phase="done")
    job.save_meta()
    if marker.done():
        meter = _meters.pop(job.id, None) or Meter(
            workspace=request.workspace,
            channel=request.channel,
            user=request.user,
            pattern="digest",
            trigger=request.trigger,
            request_id=job.id,
        )
        services.ledger.record(meter, status="error", error_kind="cancelled")
        DigestJournal(services.ledger.engine).closed(job.id)


def _closing_progress(services: Services, request: DigestRequest) -> ProgressMessage:
    """The job's progress message, for its last edit after the job ended (failed or stopped)."""
    return ProgressMessage(
        workspace_client(services.settings, services.ledger.engine, request.workspace),
        history_budget(services.redis, 50),
        team=request.workspace,
        channel=request.destination,
        ts=request.progress_ts,
        interval=0,
        finished=lambda: False,
    )


def cancelled_text(request: DigestRequest, by: str) -> str:
    who = f" by <@{by}>" if by else ""
    return f":no_entry_sign: {request.title}: cancelled{who}."


# Classifying failures ------------------------------------------------------------------------------------


def is_transient(error: BaseException) -> bool:
    """Worth another attempt later: rate limits, timeouts, server and network errors, an unexpected crash."""
    if isinstance(error, ModelError):
        return error.kind in TRANSIENT_MODEL_ERRORS
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 200)
        return status == 429 or status >= 500 or error.response.get("error") in TRANSIENT_SLACK_ERRORS
    if isinstance(error, JobTimeoutException):
        return False
    return True


def plain_reason(error: BaseException, timeout_seconds: int) -> str:
    if isinstance(error, ModelError):
        return error.user_message
    if isinstance(error, SlackApiError):
        return slack_error_message(error.response.get("error", "unknown"))
    if isinstance(error, AbandonedJobError):
        return "The worker running it stopped before it finished."
    if isinstance(error, JobTimeoutException):
        return f"It took longer than the {max(1, timeout_seconds // 60)}-minute limit."
    if isinstance(error, redis.RedisError):
        return "I lost my connection to the job queue."
    if isinstance(error, (ConnectionError, TimeoutError, OSError)):
        return "I couldn't reach Slack."
    return "Something went wrong on my side; it has been logged."


def error_kind(error: BaseException) -> str:
    if isinstance(error, ModelError):
        return error.kind
    if isinstance(error, SlackApiError):
        return f"slack_{error.response.get('error', 'unknown')}"
    if isinstance(error, AbandonedJobError):
        return "worker_lost"
    if isinstance(error, JobTimeoutException):
        return "job_timeout"
    return type(error).__name__[:64]
