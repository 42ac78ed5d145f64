"""Examples clicked on the App Home tab: each is answered in the user's DM with the bot, as if written there."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.ack_first import ack_at_once
from bot.slack.home_view import EXAMPLE_ACTION, EXAMPLES
from handlers import chat
from services import Services

log = logging.getLogger(__name__)
_KNOWN = {text for _, text in EXAMPLES}


def register(app: App, services: Services) -> None:
    def run_example(action: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        text = action.get("value", "")
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id", "")
        if text not in _KNOWN or not user:  # only the examples the Home tab offers run from a click
            log.warning("home: ignoring an unknown example")
            return
        try:
            dm = client.conversations_open(users=user)["channel"]["id"]
            posted = client.chat_postMessage(channel=dm, text=f"Example from the Home tab: `{text}`")
        except SlackApiError as error:
            log.error("home: cannot open the DM to run an example: %s", error.response.get("error"))
            return
        event = {"channel": dm, "ts": posted["ts"], "user": user, "text": text, "channel_type": "im"}
        chat.reply(event, client, services, trigger="dm", team=team)

    app.action(re.compile(f"^{EXAMPLE_ACTION}_\\d+$"))(ack=ack_at_once, lazy=[run_example])
