"""`@bot` mentions, DMs and follow-ups in the bot's threads: a streamed reply that grows in the thread."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from answering.choose import choose, open_stream
from answering.docs import docs_audience
from answering.route import Route
from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.model.offline import OFFLINE_CHAT_NOTE, OFFLINE_NOTE
from bot.slack.ack_first import ack_at_once, gate
from bot.slack.files import read_attachments
from bot.slack.format import slack_error_message
from bot.slack.history import unescape
from bot.slack.streaming import STOP_ACTION_ID, StreamingReply
from bot.slack.thread_status import ThreadStatus
from handlers.estimates import chat_cost
from knowledge.modules import import_docs_modules
from patterns.chat import CUT_OFF_NOTE, Turn
from services import Services

log = logging.getLogger(__name__)

# Besides plain messages: "Also send to channel" replies, and messages with files attached.
ANSWERED_SUBTYPES = (None, "thread_broadcast", "file_share")
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[:,]?\s*")
DM_CONVERSATION = "dm"  # the conversation key of a DM's own messages (not in a thread)


def register(app: App, services: Services) -> None:
    def on_mention(event: dict[str, Any], client: WebClient, body: dict[str, Any]) -> None:
        reply(event, client, services, trigger="mention", team=body.get("team_id", ""))

    def on_message(event: dict[str, Any], client: WebClient, body: dict[str, Any], context: dict[str, Any]) -> None:
        """DMs, and replies in threads the bot takes part in. Mentions are left to `app_mention`."""
        if event.get("subtype") not in ANSWERED_SUBTYPES or event.get("bot_id"):
            return
        team = body.get("team_id", "")
        if event.get("channel_type") == "im":
            reply(event, client, services, trigger="dm", team=team)
        elif (
            event.get("thread_ts")
            and context.get("bot_user_id") not in _MENTION.findall(event.get("text", ""))
            and services.conversations.turns(event["channel"], event["thread_ts"], last=1)
        ):
            reply(event, client, services, trigger="thread", team=team)

    app.event("app_mention")(ack=ack_at_once, lazy=[on_mention])
    app.event("message")(ack=ack_at_once, lazy=[on_message])

    @app.action(STOP_ACTION_ID)
    def on_stop(ack: Ack, action: dict[str, Any]) -> None:
        ack()
        services.streams.request_stop(action.get("value", ""))


def reply(event: dict[str, Any], client: WebClient, services: Services, *, trigger: str, team: str) -> None:
    if not all(
        isinstance(event.get(key), str) and event.get(key) for key in ("channel", "ts", "user")
    ) or not isinstance(event.get("text", ""), str):
        log.warning("ignoring a malformed %s event (missing or mistyped channel, ts, user or text)", trigger)
        return
    gate.wait_until_acks_are_out()  # events are acked before the listener runs
    import_docs_modules()  # routing may search the docs
    channel, user = event["channel"], event.get("user", "")
    thread_ts = event.get("thread_ts") or event["ts"]
    # A DM is one conversation, answered in place; in channels each message gets its own thread.
    in_dm = trigger == "dm" and not event.get("thread_ts")
    conversation = DM_CONVERSATION if in_dm else thread_ts  # where the turns and the running answer are kept
    reply_in = None if in_dm else thread_ts  # the thread the reply goes to (none: the DM itself)
    question = unescape(_LEADING_MENTION.sub("", event.get("text") or "")).strip()
    meter = Meter(
        workspace=team,
        channel=channel,
        user=user,
        pattern="chat",
        trigger=trigger,
        request_id=event.get("client_msg_id") or event.get("event_ts") or event["ts"],
    )
    if not question:
        question = "Hello!"
    # Before routing: its docs search is an embedding call, which spends too.
    verdict = services.spend_limits.check(
        workspace=team, channel=channel, user=user, estimated_cost=chat_cost(services, question)
    )
    if not verdict.allowed:
        try:
            client.chat_postMessage(channel=channel, thread_ts=reply_in, text=verdict.message)
        except SlackApiError as error:
            log.error("chat: could not post a budget refusal in %s: %s", channel, error.response.get("error"))
        services.ledger.record(meter, status="refused", error_kind=verdict.kind)
        return
    audience = docs_audience(event, client, services, team)  # which documents this question may read
    chosen = choose(
        question, services, meter, channel=channel, thread_ts=thread_ts, event_ts=event["ts"], audience=audience
    )
    question = chosen.text or question
    attachments = read_attachments(client, event["files"]) if isinstance(event.get("files"), list) else None
    if attachments is not None and attachments.texts:  # "summarize this" with a file: the file is the subject
        question = attachments.prompt(question if event.get("text", "").strip() else "Summarize the attached file.")
        chosen = Route("chat", question, "attachment")
        meter.pattern = "chat"
    loading = ThreadStatus(client, services.slack_calls, team=team, channel=channel, thread_ts=thread_ts)
    loading.show(chosen.pattern)  # "is thinking…" under the thread until the first text is out
    history = _history(services, client, team=team, channel=channel, thread_ts=conversation, event=event)
    services.conversations.add(workspace=team, channel=channel, thread_ts=conversation, role="user", text=question)

    settings = services.settings
    writer = StreamingReply(
        client,
        services.slack_calls,
        team=team,
        channel=channel,
        thread_ts=reply_in,
        recipient_user=user,
        native=settings.slack_streaming == "native" and reply_in is not None,  # Slack streams only in threads
        plan_title=question if chosen.pattern == "agent" else None,
        min_interval=settings.stream_update_seconds,
        should_continue=lambda: services.streams.should_continue(channel, conversation, writer.id),
    )
    status, error_kind, note = "ok", None, None
    services.streams.claim_thread(channel, conversation, writer.id)
    stream = open_stream(
        Route(chosen.pattern, question, chosen.reason, chosen.search),
        history,
        services,
        meter,
        thread_ts=conversation,
        audience=audience,
    )
    try:
        writer.start(thinking_after=settings.stream_thinking_seconds)
        try:
            for delta in stream:
                if loading.shown and delta.strip():
                    loading.clear()
                if not writer.append(delta):
                    note = services.streams.stop_reason(channel, conversation, writer.id)
                    break
            if stream.result is not None and stream.result.offline:
                note = OFFLINE_NOTE if chosen.pattern == "rag" else OFFLINE_CHAT_NOTE
            elif getattr(stream.result, "finish_reason", None) == "length":
                note = CUT_OFF_NOTE
        except ModelError as error:
            log.warning("chat: model call failed mid-answer: %s", error.kind)
            status, error_kind = "error", error.kind
            note = f":warning: _{error.user_message}_"
        except Exception:  # a bug must not leave the reply looking unfinished
            log.exception("chat: unexpected failure while answering")
            status, error_kind = "error", "internal"
            note = ":warning: _Something went wrong on my side while answering; it has been logged._"
        if stream.text.strip():  # stored before the final edit, so a quick follow-up already sees it
            services.conversations.add(
                workspace=team, channel=channel, thread_ts=conversation, role="assistant", text=stream.text
            )
        for extra in (attachments.note() if attachments else None, verdict.warning):
            if extra:
                note = f"{note}\n\n{extra}" if note else extra
        loading.clear()
        writer.finish(note, feedback_id=meter.request_id)
    except SlackApiError as error:
        writer.cancel()
        code = error.response.get("error", "unknown")
        log.error("chat: cannot reply in %s: %s (%s)", channel, code, slack_error_message(code))
        status, error_kind = "error", f"slack_{code}"
    services.ledger.record(meter, status=status, error_kind=error_kind)


def _history(
    services: Services, client: WebClient, *, team: str, channel: str, thread_ts: str, event: dict[str, Any]
) -> list[Turn]:
    """Earlier turns of the thread: from the database, or read once from Slack for a thread the bot joins late."""
    stored = services.conversations.turns(channel, thread_ts)
    if stored or thread_ts in (event["ts"], DM_CONVERSATION):
        return [Turn(role=t.role, text=t.text) for t in stored]
    try:
        messages = client.conversations_replies(channel=channel, ts=thread_ts, limit=50).get("messages", [])
    except SlackApiError as error:
        log.info(
            "chat: could not read thread %s (%s); answering without history", thread_ts, error.response.get("error")
        )
        return []
    turns = []
    for message in messages:
        if message.get("ts") == event["ts"] or not message.get("text", "").strip():
            continue
        role = "assistant" if message.get("bot_id") else "user"
        text = unescape(_LEADING_MENTION.sub("", message["text"])).strip()
        turns.append(Turn(role=role, text=text))
        services.conversations.add(workspace=team, channel=channel, thread_ts=thread_ts, role=role, text=text)
    return turns
