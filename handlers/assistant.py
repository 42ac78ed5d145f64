"""The bot's DM as Slack's agent surface: suggested prompts when it opens, the thread context of the pane, and
"summarize this channel" / "digest this channel" for the channel the user is viewing.

Slack's current DM experience (`agent_view` in the manifest) sends `app_home_opened` with tab "messages" when a
user opens the DM: the bot sets suggested prompts for the conversation (no thread). The pane of the legacy
experience (`assistant_view`) sends `assistant_thread_started` and `assistant_thread_context_changed` with the
channel the user is viewing: it is stored (`bot.slack.thread_context`), and the thread gets prompts and a title.
Summaries and digests of a channel pass the same checks as `/digest`: the bot must be in it, and a private
channel is read only for its members.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.slack.ack_first import ack_at_once, gate
from bot.slack.blocks import post_answer
from bot.slack.format import slack_error_message
from bot.slack.history import channel_transcript
from bot.slack.thread_context import ThreadContexts
from bot.slack.thread_status import ThreadStatus, set_title
from digests.command import DigestCommand
from digests.grammar import CommandError, DigestNow, parse
from digests.timespec import TimeSpecError
from patterns.summarize import NothingToSummarize, summarize
from services import Services

log = logging.getLogger(__name__)

PROMPTS_TITLE = "What can I do for you?"
ASK_DOCS = {"title": "Ask the team's docs", "message": "docs: How do we deploy to production?"}
AGENT_TASK = {
    "title": "Run an agent task",
    "message": "agent: Find the total sales for last month and calculate the growth",
}
PANE_PROMPTS = [  # opened from a channel: "this channel" is the one the user is viewing
    {"title": "Summarize this channel", "message": "Summarize this channel"},
    ASK_DOCS,
    {"title": "Digest this channel", "message": "Digest this channel since 7d"},
    AGENT_TASK,
]
DM_PROMPTS = [  # the DM on its own: the channel is named (#general, which most workspaces have)
    {"title": "Summarize a channel", "message": "Summarize #general"},
    ASK_DOCS,
    {"title": "Digest a channel", "message": "Digest #general since 7d"},
    AGENT_TASK,
]
_CHANNEL = r"(?P<channel>this channel|the channel I'?m viewing|<#[CG][A-Z0-9]+(?:\|[^>]*)?>|#[a-z0-9][a-z0-9._-]*)"
SUMMARIZE = re.compile(rf"^\s*(?:please\s+)?summari[sz]e\s+{_CHANNEL}\s*[.!?]?\s*$", re.IGNORECASE)
DIGEST = re.compile(
    rf"^\s*(?:please\s+)?digest\s+{_CHANNEL}(?P<rest>(?:\s+since\s+\S+(?:\s+\S+)?)?)\s*$", re.IGNORECASE
)
NO_CONTEXT = (
    "I don't know which channel you are viewing. Open me from the channel (the Team AI button in its header), "
    "or name it: `summarize #channel`."
)


def register(app: App, services: Services) -> None:
    contexts = ThreadContexts(services.redis)

    def messages_tab(event: dict[str, Any]) -> bool:
        return event.get("tab") == "messages"

    def dm_opened(event: dict[str, Any], client: WebClient) -> None:
        """Slack's agent DM opened: prompts for the conversation (agent DMs take no thread_ts here)."""
        channel = event.get("channel")
        if not isinstance(channel, str) or not channel:
            log.warning("assistant: an app_home_opened event for the Messages tab without a channel")
            return
        _prompts(client, channel=channel, thread_ts=None, viewing=None)

    def thread_started(event: dict[str, Any], client: WebClient) -> None:
        thread = _thread(event)
        channel, thread_ts = thread.get("channel_id", ""), thread.get("thread_ts", "")
        viewing = _viewing(thread)
        if not channel or not thread_ts:
            log.warning("assistant: a thread_started event without channel or thread")
            return
        if viewing:
            contexts.save(channel, thread_ts, viewing)
        set_title(client, channel=channel, thread_ts=thread_ts, title="New conversation with Team AI")
        _prompts(client, channel=channel, thread_ts=thread_ts, viewing=viewing)

    def context_changed(event: dict[str, Any]) -> None:
        thread = _thread(event)
        viewing = _viewing(thread)
        if thread.get("channel_id") and thread.get("thread_ts") and viewing:
            contexts.save(thread["channel_id"], thread["thread_ts"], viewing)

    def channel_request(event: dict[str, Any]) -> bool:
        """A DM asking to summarize or digest a channel (the message events that `chat` leaves to this module)."""
        text = event.get("text")
        return (
            isinstance(text, str)
            and event.get("channel_type") == "im"
            and not event.get("subtype")
            and not event.get("bot_id")
            and bool(SUMMARIZE.match(text) or DIGEST.match(text))
        )

    def on_channel_request(event: dict[str, Any], client: WebClient, body: dict[str, Any]) -> None:
        gate.wait_until_acks_are_out()
        team, dm, user = body.get("team_id", ""), event.get("channel", ""), event.get("user", "")
        thread_ts = event.get("thread_ts") or event.get("ts", "")
        text = event.get("text") or ""
        match = SUMMARIZE.match(text) or DIGEST.match(text)
        assert match is not None  # the matcher checked it
        ref = match["channel"]
        if ref.lower().startswith(("this", "the")):
            viewing = contexts.find(dm, thread_ts)
            if not viewing:
                _say(client, dm, thread_ts, NO_CONTEXT)
                return
            ref = viewing
        if DIGEST.match(text):
            _digest(services, client, team=team, user=user, dm=dm, thread_ts=thread_ts, ref=ref, rest=match["rest"])
        else:
            _summarize(services, client, team=team, user=user, dm=dm, thread_ts=thread_ts, ref=ref, event=event)

    app.event("app_home_opened", matchers=[messages_tab])(ack=ack_at_once, lazy=[dm_opened])
    app.event("assistant_thread_started")(ack=ack_at_once, lazy=[thread_started])
    app.event("assistant_thread_context_changed")(ack=ack_at_once, lazy=[context_changed])
    app.event("message", matchers=[channel_request])(ack=ack_at_once, lazy=[on_channel_request])


def _thread(event: dict[str, Any]) -> dict[str, Any]:
    """The event's assistant_thread, or {} when it is missing or malformed (logged)."""
    thread = event.get("assistant_thread")
    if isinstance(thread, dict) and all(isinstance(thread.get(k, ""), str) for k in ("channel_id", "thread_ts")):
        return thread
    log.warning("assistant: an event with a malformed assistant_thread")
    return {}


def _viewing(thread: dict[str, Any]) -> str | None:
    context = thread.get("context")
    channel = context.get("channel_id") if isinstance(context, dict) else None
    return channel if isinstance(channel, str) and channel else None


def _prompts(client: WebClient, *, channel: str, thread_ts: str | None, viewing: str | None) -> None:
    prompts = PANE_PROMPTS if viewing else DM_PROMPTS
    try:
        client.assistant_threads_setSuggestedPrompts(
            channel_id=channel, thread_ts=thread_ts, title=PROMPTS_TITLE, prompts=prompts
        )
    except SlackApiError as error:
        log.info("assistant: suggested prompts not set in %s: %s", channel, error.response.get("error"))


def _say(client: WebClient, channel: str, thread_ts: str, text: str) -> None:
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
    except SlackApiError as error:
        log.error("assistant: could not answer in %s: %s", channel, error.response.get("error"))


def _checked_channel(
    services: Services, client: WebClient, *, team: str, user: str, dm: str, ref: str
) -> tuple[str, str]:
    """The channel's id and name after the checks `/digest` makes (raises `CommandError` with the reason)."""
    checker = DigestCommand(services, client, {"team_id": team, "user_id": user, "channel_id": dm})
    return checker._channel(_channel_ref(ref), to_dm=True)  # noqa: SLF001 - the same checks as /digest, not a copy of them


def _summarize(
    services: Services,
    client: WebClient,
    *,
    team: str,
    user: str,
    dm: str,
    thread_ts: str,
    ref: str,
    event: dict[str, Any],
) -> None:
    meter = Meter(
        workspace=team,
        channel=dm,
        user=user,
        pattern="summarize",
        trigger="pane",
        request_id=event.get("client_msg_id") or event.get("event_ts") or event.get("ts", ""),
    )
    status, error_kind = "ok", None
    try:
        channel_id, name = _checked_channel(services, client, team=team, user=user, dm=dm, ref=ref)
        verdict = services.spend_limits.check(workspace=team, channel=channel_id, user=user)
        if not verdict.allowed:
            _say(client, dm, thread_ts, verdict.message)
            services.ledger.record(meter, status="refused", error_kind=verdict.kind)
            return
        loading = ThreadStatus(client, services.slack_calls, team=team, channel=dm, thread_ts=thread_ts)
        loading.show("summarize")
        transcript = channel_transcript(client, channel_id)
        if transcript.message_count == 0:
            raise NothingToSummarize("empty_channel", f"There are no messages from people in #{name} to summarize yet.")
        summary = summarize(
            transcript.text,
            gateway=services.gateway,
            meter=meter,
            context_tokens=services.settings.model_context_tokens,
            max_input_tokens=services.settings.max_input_tokens,
        )
        heading = f"**Summary of the last {transcript.message_count} messages in #{name}**"
        warning = f"\n\n{verdict.warning}" if verdict.warning else ""
        answer = f"{heading}\n\n{summary.for_display()}{warning}"
        post_answer(client, channel=dm, thread_ts=thread_ts, markdown=answer, feedback_id=meter.request_id)
        services.conversations.add(
            workspace=team, channel=dm, thread_ts=thread_ts, role="user", text=event.get("text", "")
        )
        services.conversations.add(workspace=team, channel=dm, thread_ts=thread_ts, role="assistant", text=answer)
    except CommandError as error:
        _say(client, dm, thread_ts, str(error))
        status, error_kind = "refused", error.kind
    except NothingToSummarize as reason:
        _say(client, dm, thread_ts, str(reason))
        status, error_kind = "error", reason.kind
    except ModelError as error:
        log.warning("assistant: summary failed: %s", error.kind)
        _say(client, dm, thread_ts, f":warning: I couldn't write that summary. {error.user_message}")
        status, error_kind = "error", error.kind
    except SlackApiError as error:
        code = error.response.get("error", "unknown")
        log.warning("assistant: Slack call failed: %s", code)
        _say(client, dm, thread_ts, f":warning: {slack_error_message(code)}")
        status, error_kind = "error", f"slack_{code}"
    except Exception:  # a bug must not leave the request unanswered
        log.exception("assistant: unexpected failure while summarizing a channel")
        _say(client, dm, thread_ts, ":warning: Something went wrong on my side while summarizing; it has been logged.")
        status, error_kind = "error", "internal"
    services.ledger.record(meter, status=status, error_kind=error_kind)


def _channel_ref(ref: str) -> str:
    """`#name` and `<#C…>` as written; a bare id (from the thread context) as a channel link."""
    return ref if ref.startswith(("#", "<#")) else f"<#{ref}>"


def _digest(
    services: Services, client: WebClient, *, team: str, user: str, dm: str, thread_ts: str, ref: str, rest: str
) -> None:
    """Queue a digest of one channel, delivered in this DM, exactly as `/digest <channel> [since …] dm` would."""
    channel = _channel_ref(ref)
    handler = DigestCommand(services, client, {"team_id": team, "user_id": user, "channel_id": dm})

    def tell(text: str = "", **_: Any) -> None:
        _say(client, dm, thread_ts, text)

    try:
        action = parse(f"{channel} {rest} dm")
        assert isinstance(action, DigestNow)  # a channel and a window parse as a digest now
        plan = handler.plan(action, tell)
    except (CommandError, TimeSpecError) as error:
        tell(str(error))
        handler.record_refusal(getattr(error, "kind", "bad_time"))
        return
    handler.submit(plan, tell)
