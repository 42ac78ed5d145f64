"""Shortcuts: "Summarize this thread" and "Ask Team AI about this message" on messages, and a global "Request a
digest" that opens a modal (channels, window, by DM or in the channel).

Each acks at once; the work follows in a lazy listener. The thread summary and the answer about a message go into
the message's thread, with the feedback buttons. Digests take the same path and checks as `/digest`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.model.gateway import ModelError
from bot.model.metering import Meter
from bot.slack.ack_first import ack_at_once, gate
from bot.slack.blocks import post_answer
from bot.slack.format import slack_error_message
from bot.slack.history import HUMAN_SUBTYPES, UserNames, unescape
from digests.command import DigestCommand
from digests.grammar import CommandError, DigestNow
from digests.timespec import TimeSpecError
from handlers import chat
from patterns.summarize import NothingToSummarize, summarize
from services import Services

log = logging.getLogger(__name__)

SUMMARIZE_THREAD, ASK_ABOUT, REQUEST_DIGEST = "summarize_thread", "ask_about_message", "request_digest"
ASK_VIEW, DIGEST_VIEW = "ask_about_message_view", "request_digest_view"
WINDOWS = {"24h": "the last 24 hours", "7d": "the last 7 days", "30d": "the last 30 days"}
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def register(app: App, services: Services) -> None:
    def summarize_thread(body: dict[str, Any], client: WebClient) -> None:
        gate.wait_until_acks_are_out()
        _summarize_thread(services, client, body)

    def open_ask(body: dict[str, Any], client: WebClient) -> None:
        message, channel = body.get("message") or {}, (body.get("channel") or {}).get("id", "")
        metadata = f"{channel}|{message.get('ts', '')}|{message.get('thread_ts') or message.get('ts', '')}"
        _open(client, body, ask_view(metadata, unescape(message.get("text") or "")))

    def ask_submitted(ack: Ack, view: dict[str, Any]) -> None:
        question = _value(view, "question", "question").strip()
        if not question:
            ack(response_action="errors", errors={"question": "Write a question about the message."})
            return
        ack()

    def answer_about(body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        question = _value(view, "question", "question").strip()
        if not question:
            return  # refused in the ack: the modal stays open (lazy listeners run whatever the ack said)
        gate.wait_until_acks_are_out()
        channel, message_ts, thread_ts = (view.get("private_metadata") or "||").split("|")[:3]
        user = (body.get("user") or {}).get("id", "")
        quoted = _message_text(client, channel, message_ts)
        event = {
            "channel": channel,
            "user": user,
            "ts": message_ts,
            "thread_ts": thread_ts,
            "text": f"About this message:\n\n> {quoted.replace(chr(10), chr(10) + '> ')}\n\n{question}",
            "client_msg_id": view.get("id", ""),
        }
        chat.reply(event, client, services, trigger="shortcut", team=(body.get("team") or {}).get("id", ""))

    def open_digest(body: dict[str, Any], client: WebClient) -> None:
        _open(client, body, digest_view())

    def digest_submitted(ack: Ack, view: dict[str, Any]) -> None:
        if not _selected_channels(view):
            ack(response_action="errors", errors={"channels": "Choose at least one channel."})
            return
        ack()

    def queue_digest(body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        if not _selected_channels(view):
            return  # refused in the ack: the modal stays open (lazy listeners run whatever the ack said)
        gate.wait_until_acks_are_out()
        team, user = (body.get("team") or {}).get("id", ""), (body.get("user") or {}).get("id", "")
        state = view.get("state", {}).get("values", {})
        window = ((state.get("window") or {}).get("window") or {}).get("selected_option") or {}
        delivery = ((state.get("delivery") or {}).get("delivery") or {}).get("selected_option") or {}
        action = DigestNow(
            channels=[f"<#{c}>" for c in _selected_channels(view)],
            since=window.get("value") if window.get("value") in WINDOWS else "24h",
            to_dm=delivery.get("value", "dm") != "channel",
        )
        handler = DigestCommand(services, client, {"team_id": team, "user_id": user, "channel_id": ""})

        def tell(text: str = "", **_: Any) -> None:  # a modal has no channel: answers come by DM
            try:
                client.chat_postMessage(channel=user, text=text)
            except SlackApiError as error:
                log.error("shortcuts: could not tell %s: %s", user, error.response.get("error"))

        try:
            plan = handler.plan(action, tell)
        except (CommandError, TimeSpecError) as error:
            tell(str(error))
            handler.record_refusal(getattr(error, "kind", "bad_time"))
            return
        handler.submit(plan, tell)

    app.shortcut(SUMMARIZE_THREAD)(ack=ack_at_once, lazy=[summarize_thread])
    app.shortcut(ASK_ABOUT)(ack=ack_at_once, lazy=[open_ask])
    app.view(ASK_VIEW)(ack=ask_submitted, lazy=[answer_about])
    app.shortcut(REQUEST_DIGEST)(ack=ack_at_once, lazy=[open_digest])
    app.view(DIGEST_VIEW)(ack=digest_submitted, lazy=[queue_digest])


def ask_view(metadata: str, quoted: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": ASK_VIEW,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Ask Team AI"},
        "submit": {"type": "plain_text", "text": "Ask"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "> " + (quoted[:2_900] or "_(no text)_")}},
            {
                "type": "input",
                "block_id": "question",
                "label": {"type": "plain_text", "text": "Your question about this message"},
                "element": {"type": "plain_text_input", "action_id": "question", "multiline": True},
            },
        ],
    }


def digest_view() -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": label}, "value": value} for value, label in WINDOWS.items()]
    delivery = [
        {"text": {"type": "plain_text", "text": "By direct message"}, "value": "dm"},
        {"text": {"type": "plain_text", "text": "In each channel"}, "value": "channel"},
    ]
    return {
        "type": "modal",
        "callback_id": DIGEST_VIEW,
        "title": {"type": "plain_text", "text": "Request a digest"},
        "submit": {"type": "plain_text", "text": "Start"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "channels",
                "label": {"type": "plain_text", "text": "Channels"},
                "element": {
                    "type": "multi_conversations_select",
                    "action_id": "channels",
                    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
                },
            },
            {
                "type": "input",
                "block_id": "window",
                "label": {"type": "plain_text", "text": "Window"},
                "element": {
                    "type": "static_select",
                    "action_id": "window",
                    "options": options,
                    "initial_option": options[0],
                },
            },
            {
                "type": "input",
                "block_id": "delivery",
                "label": {"type": "plain_text", "text": "Deliver"},
                "element": {
                    "type": "radio_buttons",
                    "action_id": "delivery",
                    "options": delivery,
                    "initial_option": delivery[0],
                },
            },
        ],
    }


def _open(client: WebClient, body: dict[str, Any], view: dict[str, Any]) -> None:
    try:
        client.views_open(trigger_id=body.get("trigger_id", ""), view=view)
    except SlackApiError as error:
        log.error("shortcuts: could not open a modal: %s", error.response.get("error"))


def _value(view: dict[str, Any], block: str, action: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block) or {}
    return str((state.get(action) or {}).get("value") or "")


def _selected_channels(view: dict[str, Any]) -> list[str]:
    state = ((view.get("state") or {}).get("values") or {}).get("channels") or {}
    return [c for c in (state.get("channels") or {}).get("selected_conversations") or [] if isinstance(c, str)]


def _message_text(client: WebClient, channel: str, ts: str) -> str:
    """The message's text as Slack has it now (the modal only carries its place)."""
    try:
        messages = client.conversations_replies(channel=channel, ts=ts, limit=1).get("messages") or []
    except SlackApiError as error:
        log.info("shortcuts: could not read the message %s: %s", ts, error.response.get("error"))
        return ""
    return unescape(messages[0].get("text", "")) if messages else ""


def _summarize_thread(services: Services, client: WebClient, body: dict[str, Any]) -> None:
    channel = (body.get("channel") or {}).get("id", "")
    user = (body.get("user") or {}).get("id", "")
    team = (body.get("team") or {}).get("id", "")
    message = body.get("message") or {}
    thread_ts = message.get("thread_ts") or message.get("ts", "")
    meter = Meter(
        workspace=team,
        channel=channel,
        user=user,
        pattern="summarize",
        trigger="shortcut",
        request_id=body.get("trigger_id", ""),
    )
    status, error_kind = "ok", None
    try:
        verdict = services.spend_limits.check(workspace=team, channel=channel, user=user)
        if not verdict.allowed:
            _ephemeral(client, channel, user, verdict.message)
            services.ledger.record(meter, status="refused", error_kind=verdict.kind)
            return
        replies = client.conversations_replies(channel=channel, ts=thread_ts, limit=200).get("messages") or []
        names = UserNames(client)
        lines = [
            f"{names(m['user'])}: {unescape(_MENTION.sub(lambda x: '@' + names(x.group(1)), m['text']))}"
            for m in replies
            if m.get("subtype") in HUMAN_SUBTYPES
            and not m.get("bot_id")
            and m.get("user")
            and m.get("text", "").strip()
        ]
        if not lines:
            raise NothingToSummarize("empty_thread", "There are no messages from people in this thread to summarize.")
        summary = summarize(
            "\n".join(lines),
            gateway=services.gateway,
            meter=meter,
            context_tokens=services.settings.model_context_tokens,
            max_input_tokens=services.settings.max_input_tokens,
        )
        warning = f"\n\n{verdict.warning}" if verdict.warning else ""
        heading = f"**Summary of this thread ({len(lines)} messages), for <@{user}>**"
        post_answer(
            client,
            channel=channel,
            thread_ts=thread_ts,
            markdown=f"{heading}\n\n{summary.for_display()}{warning}",
            feedback_id=meter.request_id,
        )
    except NothingToSummarize as reason:
        _ephemeral(client, channel, user, str(reason))
        status, error_kind = "error", reason.kind
    except ModelError as error:
        _ephemeral(client, channel, user, f":warning: I couldn't write that summary. {error.user_message}")
        status, error_kind = "error", error.kind
    except SlackApiError as error:
        code = error.response.get("error", "unknown")
        log.warning("shortcuts: thread summary failed in %s: %s", channel, code)
        _ephemeral(client, channel, user, slack_error_message(code))
        status, error_kind = "error", f"slack_{code}"
    services.ledger.record(meter, status=status, error_kind=error_kind)


def _ephemeral(client: WebClient, channel: str, user: str, text: str) -> None:
    try:
        client.chat_postEphemeral(channel=channel, user=user, text=text)
    except SlackApiError as error:  # not in the channel: say it by DM instead
        log.info("shortcuts: no ephemeral in %s (%s); telling %s by DM", channel, error.response.get("error"), user)
        try:
            client.chat_postMessage(channel=user, text=text)
        except SlackApiError as dm_error:
            log.error("shortcuts: could not tell %s: %s", user, dm_error.response.get("error"))
