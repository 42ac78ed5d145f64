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
from datetime import UTC, datetime, time, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.storage.digest_schedules import DigestSchedule, ScheduleStore
from digests.access import is_member
from digests.timespec import WEEKDAYS, zone

log = logging.getLogger(__name__)

MAX_SCHEDULES_PER_USER = 20
WINDOWS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def describe(schedule: DigestSchedule) -> str:
    """ "daily at 09:00 (Europe/Paris)" or "weekly on Monday at 09:00 (UTC)"."""
    weekly = schedule.frequency == "weekly" and schedule.weekday is not None
    day = f" on {WEEKDAYS[schedule.weekday].title()}" if weekly else ""
    return f"{schedule.frequency}{day} at {schedule.time_of_day} ({schedule.timezone})"


def next_occurrence(after: datetime, *, frequency: str, weekday: int | None, clock: time, tz_name: str) -> datetime:
    """The first time strictly after `after` when the schedule fires, in UTC."""
    tz = zone(tz_name)
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), clock, tzinfo=tz)
    for _ in range(9):
        if candidate.astimezone(UTC) > after and (frequency == "daily" or candidate.weekday() == weekday):
            return candidate.astimezone(UTC)
        candidate = datetime.combine(candidate.date() + timedelta(days=1), clock, tzinfo=tz)
    raise ValueError("no occurrence within a week")  # unreachable for valid schedules


def run_due(
    store: ScheduleStore,
    client_for: Callable[[str], Any],
    connection: Any,
    queue: Any,
    settings: Any,
    *,
    journal: Any,
    now: datetime,
    budgets: Any = None,
) -> list[str]:
    """Queue a digest for every due schedule this process wins; returns the job ids queued.

    `client_for(workspace)` is the Slack client to post the schedule's progress message with.
    """
    from digests.submit import submit

    queued: list[str] = []
    for schedule in store.due(now):
        following = next_occurrence(
            now,
            frequency=schedule.frequency,
            weekday=schedule.weekday,
            clock=time.fromisoformat(schedule.time_of_day),
            tz_name=schedule.timezone,
        )
        due = store.claim(schedule, now, following)
        if due is None:
            continue  # another worker took this occurrence
        window = WINDOWS[schedule.frequency]
        try:
            if stopped_for_lost_access(store, client_for(schedule.workspace), schedule):
                continue
            spend = None
            if budgets is not None:
                spend = checked_spending(client_for(schedule.workspace), settings, budgets, connection, schedule, now)
                if spend is None:
                    continue
            request = submit(
                client_for(schedule.workspace),
                connection,
                queue,
                settings,
                journal=journal,
                workspace=schedule.workspace,
                channel=schedule.channel,
                channel_name=schedule.channel_name,
                user=schedule.user,
                oldest=(now - window).timestamp(),
                latest=now.timestamp(),
                window_label=f"the last {window.days} days" if window.days > 1 else "the last 24 hours",
                to_dm=schedule.to_dm,
                trigger="schedule",
                schedule_id=schedule.id,
                estimate=spend.estimate if spend else None,
            )
        except Exception:
            log.exception("digest schedule %d: could not queue its digest; will try again", schedule.id)
            store.release(due)
            continue
        store.record_job(schedule.id, request.job_id)
        queued.append(request.job_id)
    return queued


def stopped_for_lost_access(store: ScheduleStore, client: Any, schedule: DigestSchedule) -> bool:
    """At every run: if the owner is no longer a member of the channel, tell them once by DM and remove the schedule.

    Runs after the occurrence is claimed, so one worker alone does it. Slack errors other than a channel gone from
    the bot's sight propagate: the occurrence is given back and checked again.
    """
    try:
        if is_member(client, schedule.channel, schedule.user):
            return False
        why = "you are no longer a member of it"
    except SlackApiError as error:
        if error.response.get("error") != "channel_not_found":
            raise
        why = "I can no longer see that channel"
    store.remove(schedule.id)
    log.warning("digest schedule %d: its owner lost access to %s; removed", schedule.id, schedule.channel)
    _tell_owner(
        client,
        schedule,
        f"I stopped your {describe(schedule)} digest of <#{schedule.channel}> (schedule `{schedule.id}`): "
        f"{why}. Set it up again with `/digest` if you get access back.",
    )
    return True


def _tell_owner(client: Any, schedule: DigestSchedule, text: str) -> None:
    """A DM to the schedule's owner; a failure there is logged, never raised."""
    try:
        dm = client.conversations_open(users=schedule.user)["channel"]["id"]
        client.chat_postMessage(channel=dm, text=text)
    except SlackApiError as error:
        log.warning("digest schedule %d: could not tell its owner: %s", schedule.id, error.response.get("error"))


def checked_spending(
    client: Any, settings: Any, budgets: Any, connection: Any, schedule: DigestSchedule, now: datetime
) -> Any:
    """The occurrence's spend check (`digests.spending`), or None when it is refused: the owner is told by DM."""
    from digests.grammar import CommandError
    from digests.spending import spend_check

    window = WINDOWS[schedule.frequency]
    try:
        return spend_check(
            client,
            settings,
            budgets,
            connection,
            team=schedule.workspace,
            channel=schedule.channel,
            user=schedule.user,
            oldest=(now - window).timestamp(),
            latest=now.timestamp(),
        )
    except CommandError as refusal:
        log.warning("digest schedule %d: refused (%s)", schedule.id, refusal.kind)
        _tell_owner(
            client,
            schedule,
            f"I skipped this run of your {describe(schedule)} digest of <#{schedule.channel}> "
            f"(schedule `{schedule.id}`): {refusal}",
        )
        return None
