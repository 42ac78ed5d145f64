"""Queue one digest: post its progress message where the digest will go, then enqueue the job with that message.

Posting first means every attempt of the job edits one message that already exists: a retry can never add a
second one. Used by `/digest`, by stored schedules and by `app.py digest --queue`.
"""

from __future__ import annotations

import dataclasses
import logging

import redis
from rq import Queue
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import Settings
from bot.storage.digest_journal import DigestJournal
from digests.costs import Estimate
from digests.queue import enqueue, new_job_id
from digests.request import DigestRequest, Trigger

log = logging.getLogger(__name__)


def submit(
    client: WebClient,
    connection: redis.Redis,
    queue: Queue,
    settings: Settings,
    *,
    journal: DigestJournal,
    workspace: str,
    channel: str,
    channel_name: str,
    user: str,
    oldest: float,
    latest: float,
    window_label: str,
    to_dm: bool,
    trigger: Trigger,
    schedule_id: int | None = None,
    job_id: str | None = None,
    estimate: Estimate | None = None,
) -> DigestRequest:
    """Raises `SlackApiError` (cannot post) or `redis.RedisError` (cannot queue; the message then says so).

    Once queued, the digest is written to the `journal`, so that a Redis restarted empty does not lose it.
    """
    job_id = job_id or new_job_id(connection)
    destination = client.conversations_open(users=user)["channel"]["id"] if to_dm else channel
    request = DigestRequest(
        job_id=job_id,
        workspace=workspace,
        channel=channel,
        channel_name=channel_name,
        user=user,
        oldest=oldest,
        latest=latest,
        window_label=window_label,
        destination=destination,
        progress_ts="",
        to_dm=to_dm,
        trigger=trigger,
        schedule_id=schedule_id,
        estimated_cost=estimate.cost_usd if estimate else None,
    )
    expected = f" · {estimate.shown()}" if estimate else ""
    posted = client.chat_postMessage(
        channel=destination,
        text=f":hourglass_flowing_sand: {request.title} ({request.requester}) is queued… · id `{job_id}`{expected}",
    )
    request = dataclasses.replace(request, progress_ts=posted["ts"])
    try:
        enqueue(queue, request, settings)
    except redis.RedisError:
        log.exception("digest %s: could not queue the job", job_id)
        try:
            client.chat_update(
                channel=destination,
                ts=request.progress_ts,
                text=f":warning: {request.title}: I couldn't queue it (the job queue is "
                "unreachable). Please try again in a minute.",
            )
        except SlackApiError:
            pass
        raise
    journal.opened(job_id, request.to_dict())
    log.info("digest %s queued: channel=%s trigger=%s window=%s", job_id, channel, trigger, window_label)
    return request
