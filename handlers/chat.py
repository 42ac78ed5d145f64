"""`@bot` mentions and direct messages: reply in the message's thread."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.ack_first import gate
from bot.gateway import ModelError
from bot.metering import Meter
from bot.mrkdwn import to_mrkdwn
from bot.offline import OFFLINE_NOTE
from bot.runtime import Services
from bot.slack_format import fit_text
from bot.slack_history import unescape
from patterns.chat import chat_messages

log = logging.getLogger(__name__)

_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[:,]?\s*")


def register(app: App, services: Services) -> None:
    @app.event("app_mention")
    def on_mention(event: dict[str, Any], client: WebClient, body: dict[str, Any]) -> None:
        reply(event, client, services, trigger="mention", team=body.get("team_id", ""))

    @app.event("message")
    def on_message(event: dict[str, Any], client: WebClient, body: dict[str, Any]) -> None:
        """DMs get answers; channel messages arrive too (thread follow-ups) but need no answer here."""
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        reply(event, client, services, trigger="dm", team=body.get("team_id", ""))


def reply(event: dict[str, Any], client: WebClient, services: Services, *, trigger: str, team: str) -> None:
    gate.wait_until_acks_are_out()  # events are acked before the listener runs
    channel, user = event["channel"], event.get("user", "")
    thread_ts = event.get("thread_ts") or event["ts"]
    question = unescape(_LEADING_MENTION.sub("", event.get("text") or "")).strip()
    meter = Meter(workspace=team, channel=channel, user=user, pattern="chat", trigger=trigger,
                  request_id=event.get("client_msg_id") or event.get("event_ts", ""))
    status, kind = "ok", None
    if not question:
        text = "Hi! Ask me anything, or try `/summarize` in a channel."
    else:
        try:
            result = services.gateway.chat(chat_messages([], question), pattern="chat", meter=meter,
                                           temperature=0.7)
            text = to_mrkdwn(result.text) + (f"\n\n{OFFLINE_NOTE}" if result.offline else "")
        except ModelError as error:
            log.warning("chat: model call failed: %s", error.kind)
            text, status, kind = f":warning: {error.user_message}", "error", error.kind
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=fit_text(text))
    except SlackApiError as error:
        code = error.response.get("error", "unknown")
        log.error("chat: could not reply in %s: %s", channel, code)
        status, kind = "error", f"slack_{code}"
    services.ledger.record(meter, status=status, error_kind=kind)
