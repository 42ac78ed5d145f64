"""`/summarize [text]`: ack at once, post a placeholder, edit it into the summary (or a clear error)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.slack.ack_first import ack_at_once, gate
from bot.slack.feedback import feedback_block
from bot.slack.format import fit_text, slack_error_message
from bot.slack.history import channel_transcript, unescape
from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.rate_budget import SlackBudget
from bot.slack.rollover import page_blocks, pages_of, post_rest
from handlers.estimates import summarize_cost
from patterns.summarize import NothingToSummarize, summarize
from services import Services

log = logging.getLogger(__name__)

PLACEHOLDER = "Summarizing… (requested by <@{user}>)"


def register(app: App, services: Services) -> None:
    def summarize_command(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        gate.wait_until_acks_are_out()
        meter = Meter(
            workspace=command.get("team_id", ""),
            channel=command.get("channel_id", ""),
            user=command.get("user_id", ""),
            pattern="summarize",
            trigger="command",
            request_id=command.get("trigger_id", ""),
        )
        status, error_kind = run(command, client, respond, services, meter)
        services.ledger.record(meter, status=status, error_kind=error_kind)

    app.command("/summarize")(ack=ack_at_once, lazy=[summarize_command])


def run(
    command: dict[str, Any], client: WebClient, respond: Respond, services: Services, meter: Meter
) -> tuple[str, str | None]:
    """Do the work after the ack; returns the ledger status and error kind."""
    channel, user = command["channel_id"], command["user_id"]
    verdict = services.spend_limits.check(
        workspace=command.get("team_id", ""),
        channel=channel,
        user=user,
        estimated_cost=summarize_cost(services, unescape(command.get("text") or "")),
    )
    if not verdict.allowed:
        _tell(respond, verdict.message)
        return "refused", verdict.kind
    services.slack_calls.pace_post(command.get("team_id", ""), channel, timeout=10)
    try:
        ts = client.chat_postMessage(channel=channel, text=PLACEHOLDER.format(user=user))["ts"]
    except SlackApiError as error:
        code = error.response.get("error", "unknown")
        log.warning("summarize: cannot post in %s: %s", channel, code)
        _tell(respond, slack_error_message(code))
        return "error", f"slack_{code}"

    team = command.get("team_id", "")

    def edit(text: str, blocks: list | None = None) -> None:
        _edit(client, services.slack_calls, team, channel, ts, text, blocks)

    try:
        heading, source = _source(command, client)
        summary = summarize(
            source,
            gateway=services.gateway,
            meter=meter,
            context_tokens=services.settings.model_context_tokens,
            max_input_tokens=services.settings.max_input_tokens,
        )
        warning = f"\n\n{verdict.warning}" if verdict.warning else ""
        first, *rest = pages_of(f"*{heading}*\n{to_mrkdwn(summary.for_display())}{warning}")
        feedback = [feedback_block(meter.request_id)]
        edit(first, page_blocks(first, None if rest else feedback))
        if rest:  # a summary longer than one message continues in more messages, as chat answers do
            post_rest(client, services.slack_calls, team=team, channel=channel, pages=rest, last_blocks=feedback)
        return "ok", None
    except NothingToSummarize as reason:
        edit(f"<@{user}> {reason}")
        return "error", reason.kind
    except ModelError as error:
        log.warning("summarize: model call failed: %s", error.kind)
        edit(f":warning: <@{user}> I couldn't write that summary. {error.user_message}")
        return "error", error.kind
    except SlackApiError as error:
        code = error.response.get("error", "unknown")
        log.warning("summarize: Slack call failed: %s", code)
        edit(f":warning: <@{user}> {slack_error_message(code)}")
        return "error", f"slack_{code}"
    except Exception:
        log.exception("summarize: unexpected failure")
        edit(f":warning: <@{user}> Something went wrong on my side while summarizing; it has been logged.")
        return "error", "internal"


def _source(command: dict[str, Any], client: WebClient) -> tuple[str, str]:
    """The heading and the text to summarize: the command's text, or else the channel's recent messages."""
    user, text = command["user_id"], unescape(command.get("text") or "").strip()
    if text:
        return f"Summary for <@{user}>", text
    transcript = channel_transcript(client, command["channel_id"])
    if transcript.message_count == 0:
        raise NothingToSummarize("empty_channel", "There are no messages from people in this channel to summarize yet.")
    return f"Summary of the last {transcript.message_count} messages here, for <@{user}>", transcript.text


def _tell(respond: Respond, text: str) -> None:
    """An ephemeral answer through the command's response URL; a failure there is logged, never raised."""
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as error:
        log.error("summarize: could not answer through the response URL (%s)", type(error).__name__)


def _edit(
    client: WebClient,
    budget: SlackBudget,
    team: str,
    channel: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """Edit the placeholder, paid for in the workspace's chat.update budget that streamed answers share."""
    if not budget.take(team, "chat.update", timeout=60):
        log.warning("summarize: no chat.update budget in %s for 60 s; editing anyway", team)
    try:
        client.chat_update(channel=channel, ts=ts, text=fit_text(text), blocks=blocks or [])
    except SlackApiError as error:
        log.error("summarize: could not edit the placeholder %s: %s", ts, error.response.get("error"))
    finally:
        budget.sent(team, "chat.update")
