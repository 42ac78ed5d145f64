"""What `/digest` does once parsed: plan and queue digests, save schedules, report status, cancel.

The web process stays light: the ack answers at once with the job ids (`plan`). After the ack, `submit` checks each
channel (the bot and the requester must be members of it: `digests/access.py`), posts the job's
progress message and queues it; a channel that fails the check gets an ephemeral reply naming the job. The work
happens on the workers (`python app.py worker`).
"""

from __future__ import annotations

import logging
import re
import time as clock
from datetime import UTC, datetime
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.model.metering import Meter
from bot.slack.format import fit_text, slack_error_message
from bot.storage.digest_journal import DigestJournal
from bot.storage.digest_schedules import ScheduleStore
from digests.access import is_member, not_a_member_reason
from digests.grammar import (
    CHANNEL_REF,
    EARLIEST_ZONE,
    NEEDS_REDIS,
    USAGE,
    CommandError,
    DigestNow,
    Schedule,
    Simple,
    linked,
    shown,
)
from digests.job import cancelled_text
from digests.queue import CancelOutcome, cancel, digest_queue, new_job_id, user_jobs
from digests.request import DigestRequest
from digests.schedules import MAX_SCHEDULES_PER_USER, describe, next_occurrence
from digests.spending import SpendCheck, check_caps, spend_check
from digests.submit import submit
from digests.timespec import TimeSpecError, parse_since, window_label, zone
from services import Services

log = logging.getLogger(__name__)


class DigestCommand:
    """One `/digest` request, from its ack to its follow-up."""

    def __init__(self, services: Services, client: WebClient, command: dict[str, Any]) -> None:
        self.services, self.client, self.command = services, client, command
        self.team, self.user = command.get("team_id", ""), command.get("user_id", "")
        self.here = command.get("channel_id", "")
        self.progress_edit: dict[str, str] | None = None  # {channel, ts, text}: for after the ack

    # /digest [#channels] [since …] [dm] -------------------------------------------------------------------

    def plan(self, action: DigestNow, ack: Ack) -> dict[str, Any]:
        """Check what needs no Slack call, pick the job ids and ack with them; `submit` checks the channels.

        The ack never waits on Slack: resolving `#name` can page through thousands of channels, and Slack wants
        the ack within 3 seconds.
        """

        self.require_queue()
        now = datetime.now(UTC)
        start = parse_since(action.since, now=now, tz=EARLIEST_ZONE)  # form and range; the user's zone comes later
        label = window_label(action.since)
        refs = action.channels or [f"<#{self.here}>"]
        check_caps(self.services.settings, refs, action.since, now - start)
        ids = [new_job_id(self.services.redis) for _ in refs]
        where = "by direct message" if action.to_dm else ("in each channel" if len(refs) > 1 else "there")
        listed = ", ".join(f"{linked(ref)} (id `{job_id}`)" for ref, job_id in zip(refs, ids))
        ack(
            f"Queued {'a digest' if len(refs) == 1 else f'{len(refs)} digests'} of {label}: {listed}. "
            f"I'll show progress {where} and replace it with the digest. `/digest status` shows your jobs."
        )
        return {
            "refs": refs,
            "ids": ids,
            "since": action.since,
            "now": now.timestamp(),
            "label": label,
            "to_dm": action.to_dm,
        }

    def submit(self, plan: dict[str, Any], respond: Respond) -> None:
        """Check each channel, post its progress message and queue its job; a refusal or failure is told to the
        requester, by job id."""

        def not_queued(ref: str, job_id: str, reason: str) -> None:
            respond(
                text=f"Digest of {linked(ref)} (id `{job_id}`) was not queued: {reason}",
                response_type="ephemeral",
                replace_original=False,
            )

        connection = self.services.redis
        queue = digest_queue(connection, self.services.settings)
        journal = DigestJournal(self.services.ledger.engine)
        now = datetime.fromtimestamp(plan["now"], UTC)
        for ref, job_id in zip(plan["refs"], plan["ids"]):
            try:
                tz = self._user_tz() if re.search(r"\d{4}-", plan["since"]) else UTC
                start = parse_since(plan["since"], now=now, tz=tz)
                channel_id, name = self._channel(ref, to_dm=plan["to_dm"])
            except (CommandError, TimeSpecError) as error:
                not_queued(ref, job_id, str(error))
                self.record_refusal(getattr(error, "kind", "bad_time"))
                continue
            except Exception as error:  # Slack unreachable: the client's retries are spent
                log.error("digest: could not check %s (%s)", ref, type(error).__name__)
                not_queued(ref, job_id, "I could not reach Slack to check the channel. Please try again in a minute.")
                continue
            try:
                cost = self._spend_check(channel_id, start.timestamp(), plan["now"])
            except CommandError as error:
                not_queued(ref, job_id, str(error))
                self.record_refusal(error.kind)
                continue
            except Exception as error:
                log.error("digest: could not estimate %s (%s)", ref, type(error).__name__)
                not_queued(ref, job_id, "I could not reach Slack to check the channel. Please try again in a minute.")
                continue
            try:
                submit(
                    self.client,
                    connection,
                    queue,
                    self.services.settings,
                    journal=journal,
                    workspace=self.team,
                    channel=channel_id,
                    channel_name=name,
                    user=self.user,
                    oldest=start.timestamp(),
                    latest=plan["now"],
                    window_label=plan["label"],
                    to_dm=plan["to_dm"],
                    trigger="command",
                    job_id=job_id,
                    estimate=cost.estimate,
                )
                if cost.warning:
                    respond(text=cost.warning, response_type="ephemeral", replace_original=False)
            except SlackApiError as error:
                code = error.response.get("error", "unknown")
                log.warning("digest: cannot post the progress message for %s: %s", channel_id, code)
                not_queued(ref, job_id, slack_error_message(code))
            except Exception as error:
                log.error("digest: could not queue %s (%s)", job_id, type(error).__name__)
                not_queued(ref, job_id, "the job queue is unreachable. Please try again in a minute.")

    def _spend_check(self, channel_id: str, oldest: float, latest: float) -> SpendCheck:
        """The digest's estimated cost against the per-digest cap and the budgets; raises `CommandError` if refused."""
        return spend_check(
            self.client,
            self.services.settings,
            self.services.spend_limits,
            self.services.redis,
            team=self.team,
            channel=channel_id,
            user=self.user,
            oldest=oldest,
            latest=latest,
        )

    def _channel(self, ref: str, *, to_dm: bool) -> tuple[str, str]:
        """The channel's id and name, once checked: it exists, the bot is in it, the user may read it."""
        channel_id = self._resolve(ref)
        try:
            info = self.client.conversations_info(channel=channel_id)["channel"]
        except SlackApiError as error:
            code = error.response.get("error", "unknown")
            if code == "channel_not_found":
                raise CommandError(
                    f"I can't find the channel {shown(ref)}. If it is private, invite me to it first.",
                    kind="channel_not_found",
                ) from None
            raise CommandError(slack_error_message(code), kind=f"slack_{code}") from None
        name = info.get("name") or channel_id
        if not info.get("is_member") and not info.get("is_im"):
            raise CommandError(
                f"I'm not in #{name}, so I can't read it. Invite me with `/invite @teamai` in #{name}, then try again.",
                kind="not_in_channel",
            )
        if info.get("is_archived") and not to_dm:
            raise CommandError(
                f"#{name} is archived, so I can't post there. Add `dm` to get the digest by direct message.",
                kind="is_archived",
            )
        if not is_member(self.client, channel_id, self.user, info):
            raise CommandError(not_a_member_reason(info, name), kind="not_a_member")
        return channel_id, name

    def _resolve(self, ref: str) -> str:
        match = CHANNEL_REF.match(ref)
        assert match
        channel_id, _, name, raw_id = match.groups()
        if channel_id or raw_id:
            return channel_id or raw_id
        cursor = None
        for _ in range(20):  # up to 20,000 channels
            page = self.client.conversations_list(
                types="public_channel,private_channel", limit=1000, exclude_archived=False, cursor=cursor
            )
            for channel in page.get("channels", []):
                if channel.get("name") == name:
                    return channel["id"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        raise CommandError(
            f"I can't find the channel #{name}. If it is private, invite me to it first.", kind="channel_not_found"
        )

    def _user_tz(self) -> Any:
        return zone(self._user_tz_name())

    def _user_tz_name(self) -> str:
        try:
            return self.client.users_info(user=self.user)["user"].get("tz") or "UTC"
        except SlackApiError:
            return "UTC"

    # /digest daily|weekly ---------------------------------------------------------------------------------

    def require_queue(self) -> None:
        if self.services.redis is None:
            raise CommandError(NEEDS_REDIS, kind="no_queue")

    def save_schedule(self, action: Schedule) -> str:
        """Check and store the schedule; the reply says what was set up, or why not."""
        try:
            return self._schedule(action)
        except CommandError as error:
            self.record_refusal(error.kind)
            return str(error)
        except Exception as error:  # Slack or the database unreachable, their clients' retries spent
            log.error("digest: could not set up a schedule (%s)", type(error).__name__)
            return "I could not set up the schedule just now (Slack or the database did not answer). Please try again."

    def _schedule(self, action: Schedule) -> str:

        channel_id, name = self._channel(action.channel or f"<#{self.here}>", to_dm=action.to_dm)
        store = ScheduleStore(self.services.ledger.engine)
        if store.count_for(self.team, self.user) >= MAX_SCHEDULES_PER_USER:
            raise CommandError(
                f"You already have {MAX_SCHEDULES_PER_USER} digest schedules; remove one first (`/digest schedules`).",
                kind="too_many_schedules",
            )
        weekday = action.weekday if action.weekday is not None else (0 if action.frequency == "weekly" else None)
        tz_name, now = self._user_tz_name(), datetime.now(UTC)
        saved = store.add(
            workspace=self.team,
            channel=channel_id,
            channel_name=name,
            user=self.user,
            frequency=action.frequency,
            weekday=weekday,
            clock=action.clock,
            tz_name=tz_name,
            to_dm=action.to_dm,
            now=now,
            next_run_at=next_occurrence(
                now, frequency=action.frequency, weekday=weekday, clock=action.clock, tz_name=tz_name
            ),
        )
        where = "to you by direct message" if action.to_dm else f"in <#{channel_id}>"
        return (
            f"Scheduled: a digest of <#{channel_id}> {describe(saved)}, posted {where}. The first one comes "
            f"{_when(saved.next_run_at)}. Schedule id `{saved.id}`; remove it with "
            f"`/digest unschedule {saved.id}`."
        )

    # status, cancel, schedules, unschedule, help -----------------------------------------------------------

    def simple(self, action: Simple) -> str:
        if action.action == "help":
            return USAGE
        if action.action in ("schedules", "unschedule"):
            return self._schedules() if action.action == "schedules" else self._unschedule(action.argument)
        self.require_queue()
        return self._status() if action.action == "status" else self._cancel(action.argument)

    def _status(self) -> str:

        jobs = user_jobs(self.services.redis, self.team, self.user)  # type: ignore[arg-type]
        if not jobs:
            return "You have no digest jobs from the last 7 days. Start one with `/digest`."
        lines = ["*Your digests* (newest first):"]
        for job in jobs:
            link = f" · <{job.link}|open>" if job.link else ""
            lines.append(
                f"• `{job.id}` <#{job.channel}>, {job.window}: {job.state}{link} · queued {_ago(job.queued_at)}"
            )
        lines.append("Cancel one that is still running with `/digest cancel <id>`.")
        return fit_text("\n".join(lines))

    def _cancel(self, job_id: str) -> str:

        connection = self.services.redis
        assert connection is not None
        outcome, job = cancel(connection, job_id, workspace=self.team, user=self.user)
        if outcome is CancelOutcome.NOT_FOUND or outcome is CancelOutcome.NOT_YOURS:
            return f"I have no digest job `{job_id}` of yours. `/digest status` lists them."
        if outcome is CancelOutcome.FINISHED:
            return f"Digest `{job_id}` has already finished, so there is nothing to cancel."
        if outcome is CancelOutcome.STOPPING:
            return f"Stopping digest `{job_id}`; its progress message will say when it has stopped."
        request = DigestRequest.from_dict(job.args[0])  # type: ignore[union-attr]
        self.progress_edit = {
            "channel": request.destination,
            "ts": request.progress_ts,
            "text": cancelled_text(request, self.user),
        }
        DigestJournal(self.services.ledger.engine).closed(job_id)
        return f"Cancelled digest `{job_id}` before it started."

    def edit_progress(self, edit: dict[str, str]) -> None:
        try:
            self.client.chat_update(channel=edit["channel"], ts=edit["ts"], text=edit["text"])
        except SlackApiError as error:
            log.warning("digest: could not edit the progress message %s: %s", edit["ts"], error.response.get("error"))

    def _schedules(self) -> str:

        schedules = ScheduleStore(self.services.ledger.engine).for_user(self.team, self.user)
        if not schedules:
            return "You have no digest schedules. Set one up with `/digest daily #channel 09:00`."
        lines = ["*Your digest schedules:*"]
        for s in schedules:
            where = "by direct message" if s.to_dm else "in the channel"
            lines.append(f"• `{s.id}` <#{s.channel}> {describe(s)}, {where}; next {_when(s.next_run_at)}")
        lines.append("Remove one with `/digest unschedule <id>`.")
        return fit_text("\n".join(lines))

    def _unschedule(self, argument: str) -> str:

        store = ScheduleStore(self.services.ledger.engine)
        schedule = store.get(int(argument)) if argument.isdigit() else None
        if schedule is None or schedule.workspace != self.team or schedule.user != self.user:
            return f"I have no digest schedule `{argument}` of yours. `/digest schedules` lists them."
        store.remove(schedule.id)
        return f"Removed schedule `{schedule.id}`: the {describe(schedule)} digest of <#{schedule.channel}>."

    def record_refusal(self, kind: str) -> None:
        meter = Meter(
            workspace=self.team,
            channel=self.here,
            user=self.user,
            pattern="digest",
            trigger="command",
            request_id=self.command.get("trigger_id", ""),
        )
        self.services.ledger.record(meter, status="refused", error_kind=kind)


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def _ago(epoch: float) -> str:
    seconds = max(0, int(clock.time() - epoch))
    if seconds < 60:
        return "just now"
    if seconds < 3_600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3_600} h ago"
    return f"{seconds // 86_400} days ago"
