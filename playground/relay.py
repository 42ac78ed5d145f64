"""What Slack does when a person types or clicks: store the message, then send the bot the matching request.

The browser page calls these through the playground's JSON API. A typed line becomes what Slack would deliver:
`/command text` a signed slash command (its immediate answer and anything posted to its response URL show as
"only visible to you"); any other line a message in the conversation plus a `message` event, and an
`app_mention` event too when it mentions the bot in a channel. Buttons send `block_actions`; opening the Home
tab sends `app_home_opened`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from doubles.slack import SlackServer
from doubles.slack_sender import SlackResponse, SlackSender
from playground.modal import missing, state_values

_BOT_WORD = re.compile(r"(?<![\w<])@bot\b", re.I)


@dataclass(frozen=True)
class Person:
    """The person using the page."""

    user_id: str
    name: str


@dataclass
class Note:
    """An "only visible to you" message that is not in Slack's message store (command answers)."""

    channel: str
    thread_ts: str | None
    sort: str
    text: str = ""
    blocks: list[Any] | None = None


@dataclass(frozen=True)
class Target:
    """Where answers to one response URL are shown, and when it was handed out (for ordering)."""

    channel: str
    thread_ts: str | None
    sort: str


def _event_id() -> str:
    """Unique across runs: the bot drops re-deliveries by event id, remembered in Redis."""
    return f"Ev{uuid.uuid4().hex[:16].upper()}"


class RelayError(Exception):
    """A request the page made that cannot be delivered; the message is shown to the person."""


class Relay:
    """Turns the person's gestures into Slack-side effects and signed requests to the bot."""

    def __init__(self, slack: SlackServer, sender: SlackSender, person: Person) -> None:
        self.slack, self.sender, self.person = slack, sender, person
        self.notes: list[Note] = []
        self.targets: dict[str, Target] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.closed_views: set[str] = set()

    # -- gestures ----------------------------------------------------------------------------------------

    def send(self, channel: str, text: str, thread_ts: str | None = None) -> None:
        """A line typed in a conversation's (or a thread's) message box."""
        text = text.strip()
        if not text:
            raise RelayError("Type a message first.")
        if channel not in self.slack.channels:
            raise RelayError(f"There is no conversation {channel}.")
        if text.startswith("/"):
            self._command(channel, text, thread_ts)
        else:
            self._message(channel, text, thread_ts)

    def click(self, channel: str, message_ts: str, action: dict[str, Any]) -> None:
        """A button in a message (or, with no channel, in the Home tab)."""
        container: dict[str, Any]
        message: dict[str, Any] | None = None
        thread_ts = None
        if channel:
            message = self.slack.message(channel, message_ts)
            if message is None:
                raise RelayError("That message is gone.")
            thread_ts = message.get("thread_ts") if message.get("thread_ts") != message_ts else None
            container = {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False}
            if thread_ts:
                container["thread_ts"] = thread_ts
        else:
            view = self.slack.views.get(self.person.user_id) or {}
            container = {"type": "view", "view_id": view.get("id", "VHOME")}
        name = self._response_name(channel, thread_ts)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": self.slack.team_id, "domain": self.slack.team_domain},
            "user": {
                "id": self.person.user_id,
                "username": self.person.name,
                "name": self.person.name,
                "team_id": self.slack.team_id,
            },
            "api_app_id": self.slack.app_id,
            "token": "verification_token",
            "container": container,
            "trigger_id": f"{next(self._ids)}.{int(time.time())}.playground",
            "response_url": self.slack.response_url(name),
            "actions": [
                {
                    "action_id": str(action.get("action_id", "")),
                    "block_id": str(action.get("block_id", "")),
                    "value": str(action.get("value", "")),
                    "type": "button",
                    "text": {"type": "plain_text", "text": str(action.get("text", ""))},
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if message is not None:
            payload["channel"] = {"id": channel, "name": self._channel_name(channel)}
            payload["message"] = message
        else:
            payload["view"] = self.slack.views.get(self.person.user_id) or {}
        self._check(
            self.sender.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")
        )

    def open_home(self) -> None:
        """The person opened the bot's Home tab: Slack tells the bot, which may publish a view."""
        event = {
            "type": "app_home_opened",
            "user": self.person.user_id,
            "channel": self.dm_channel() or "",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        view = self.slack.views.get(self.person.user_id)
        if view:
            event["view"] = view
        self._check(self.sender.event(event, event_id=_event_id()))

    def open_dm(self) -> None:
        """The person opened the DM with the bot (Slack's agent Messages tab): Slack tells the bot."""
        event = {
            "type": "app_home_opened",
            "user": self.person.user_id,
            "channel": self.dm_channel() or "",
            "tab": "messages",
            "event_ts": f"{time.time():.6f}",
        }
        self._check(self.sender.event(event, event_id=_event_id()))

    def message_shortcut(self, channel: str, message_ts: str, callback_id: str) -> None:
        """A shortcut from a message's menu ("Summarize this thread")."""
        message = self.slack.message(channel, message_ts)
        if message is None:
            raise RelayError("That message is gone.")
        self._check(self.sender.shortcut(callback_id, user=self.person.user_id, message=message, channel=channel))

    def global_shortcut(self, callback_id: str) -> None:
        """A shortcut from the composer's shortcut menu ("Request a digest")."""
        self._check(self.sender.shortcut(callback_id, user=self.person.user_id))

    def open_modal(self) -> dict[str, Any] | None:
        """The newest modal the bot opened that the person has not submitted or cancelled."""
        for view in reversed(list(self.slack.modals)):
            if view.get("id") not in self.closed_views:
                return view
        return None

    def close_view(self, view_id: str) -> None:
        """Cancel: Slack closes the modal (no `view_closed` unless the view asks for it; this bot's do not)."""
        with self._lock:
            self.closed_views.add(view_id)
        self.slack.notify()

    def submit_view(self, view_id: str, entered: dict[str, Any]) -> dict[str, str]:
        """Submit the modal as Slack does: a `view_submission` with `state.values`. Returns the errors to show
        by block (required fields left empty, or the bot's `response_action: errors`); none closes it."""
        view = next((v for v in list(self.slack.modals) if v.get("id") == view_id), None)
        if view is None or view_id in self.closed_views:
            raise RelayError("That form is closed.")
        values = state_values(view, entered)
        errors = missing(view, values)
        if errors:
            return errors
        response = self.sender.view_submission(view, values, user=self.person.user_id)
        self._check(response)
        try:
            answer = json.loads(response.body) if response.body.strip() else {}
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and answer.get("response_action") == "errors":
            return {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
        self.close_view(view_id)
        return {}

    # -- helpers -----------------------------------------------------------------------------------------

    def dm_channel(self) -> str | None:
        """The person's DM with the bot."""
        for channel_id, conversation in list(self.slack.channels.items()):
            if conversation.info.get("is_im") and conversation.info.get("user") == self.person.user_id:
                return channel_id
        return None

    def _command(self, channel: str, line: str, thread_ts: str | None) -> None:
        command, _, text = line.partition(" ")
        sort = f"{time.time():.6f}"  # the command's immediate answer comes before anything the bot posts after it
        name = self._response_name(channel, thread_ts)
        response = self.sender.slash_command(
            command,
            text.strip(),
            user=self.person.user_id,
            user_name=self.person.name,
            channel=channel,
            channel_name=self._channel_name(channel),
            response_url=self.slack.response_url(name),
        )
        self._check(response)
        if response.body.strip():
            self._note(channel, thread_ts, response.body, sort)

    def _message(self, channel: str, text: str, thread_ts: str | None) -> None:
        info = self.slack.channels[channel].info
        slack_text = _BOT_WORD.sub(f"<@{self.slack.bot_user_id}>", text)
        self.advance_clock()
        ts = self.slack.post(channel, slack_text, user=self.person.user_id, thread_ts=thread_ts)
        is_im = bool(info.get("is_im"))
        self._check(
            self.sender.message(
                slack_text,
                user=self.person.user_id,
                channel=channel,
                ts=ts,
                thread_ts=thread_ts,
                channel_type="im" if is_im else "channel",
                event_id=_event_id(),
            )
        )
        if not is_im and f"<@{self.slack.bot_user_id}>" in slack_text:
            event = {
                "type": "app_mention",
                "user": self.person.user_id,
                "text": slack_text,
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
                "team": self.slack.team_id,
            }
            if thread_ts:
                event["thread_ts"] = thread_ts
            self._check(self.sender.event(event, event_id=_event_id()))

    def advance_clock(self) -> None:
        """Stamp new messages with the time now (never going back), so the page shows real times."""
        latest = Decimal(0)
        for channel_id in list(self.slack.channels):
            for message in self.slack.messages(channel_id):
                latest = max(latest, Decimal(message["ts"]), Decimal(message.get("latest_reply") or 0))
        self.slack.set_clock(max(time.time(), float(latest) + 0.001))

    def _response_name(self, channel: str, thread_ts: str | None) -> str:
        name = f"web{next(self._ids)}"
        with self._lock:
            self.targets[name] = Target(channel, thread_ts, f"{time.time():.6f}")
        return name

    def _note(self, channel: str, thread_ts: str | None, body: str, sort: str | None = None) -> None:
        text, blocks = body, None
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            text, blocks = str(parsed.get("text", "")), parsed.get("blocks")
        with self._lock:
            self.notes.append(Note(channel, thread_ts, sort or f"{time.time():.6f}", text, blocks))
        self.slack.notify()

    def _channel_name(self, channel: str) -> str:
        conversation = self.slack.channels.get(channel)
        if conversation is None:
            return channel
        return "directmessage" if conversation.info.get("is_im") else str(conversation.info.get("name", channel))

    @staticmethod
    def _check(response: SlackResponse) -> None:
        if response.status >= 400:
            raise RelayError(f"The bot answered HTTP {response.status}: {response.body[:200]}")
