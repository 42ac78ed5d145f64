"""`/digest`: channel digests as background jobs, their status, cancellation and stored schedules.

    /digest                                   this channel, the last 24 hours
    /digest #a #b since 7d | since 2024-05-01 several channels (one job each), any window; `dm` sends it to you
    /digest status | cancel <id>
    /digest daily #channel 09:00 | weekly #channel mon 09:00 | schedules | unschedule <id>

The grammar is `digests.grammar`, the work `digests.command.DigestCommand`.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.slack.ack_first import gate
from digests.command import DigestCommand
from digests.grammar import CommandError, DigestNow, Schedule, parse
from digests.timespec import TimeSpecError
from services import Services

PLAN_KEY = "digest_plan"  # the ack function hands its checked plan to the lazy listener through the context
SCHEDULE_KEY = "digest_schedule"  # set when the lazy listener is to check and store a schedule
PROGRESS_EDIT_KEY = "digest_progress_edit"  # a progress message to edit after the ack (a cancelled queued job)


def register(app: App, services: Services) -> None:
    def digest_command(ack: Ack, command: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """What can be answered without calling Slack is answered in the ack; the rest follows it."""
        handler = DigestCommand(services, client, command)
        try:
            action = parse(command.get("text") or "")
            if isinstance(action, DigestNow):
                context[PLAN_KEY] = handler.plan(action, ack)
            elif isinstance(action, Schedule):
                handler.require_queue()
                ack()  # the channel is checked with Slack after the ack; the confirmation follows by response_url
                context[SCHEDULE_KEY] = True
            else:
                ack(handler.simple(action))
                if handler.progress_edit:
                    context[PROGRESS_EDIT_KEY] = handler.progress_edit
        except (CommandError, TimeSpecError) as error:
            ack(str(error))
            handler.record_refusal(getattr(error, "kind", "bad_time"))

    def follow_up(command: dict[str, Any], client: WebClient, respond: Respond, context: BoltContext) -> None:
        handler = DigestCommand(services, client, command)
        if plan := context.get(PLAN_KEY):
            gate.wait_until_acks_are_out()
            handler.submit(plan, respond)
        elif context.get(SCHEDULE_KEY):
            gate.wait_until_acks_are_out()
            action = parse(command.get("text") or "")
            assert isinstance(action, Schedule)  # the ack parsed the same text
            respond(text=handler.save_schedule(action), response_type="ephemeral", replace_original=False)
        elif edit := context.get(PROGRESS_EDIT_KEY):
            handler.edit_progress(edit)

    app.command("/digest")(ack=digest_command, lazy=[follow_up])
