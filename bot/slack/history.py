"""Read a channel as a readable transcript: people's names resolved, bot noise and join/leave notices skipped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from slack_sdk import WebClient

# Message subtypes that are people talking; everything else (joins, topic changes, bot posts) is noise.
HUMAN_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass
class Transcript:
    text: str
    message_count: int


def unescape(text: str) -> str:
    """Slack escapes &, < and > in message text; undo it for the model."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class UserNames:
    """Resolves user ids to display names, one `users.info` call per user."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._names: dict[str, str] = {}
        self._bots: set[str] = set()

    def is_bot(self, user_id: str) -> bool:
        """Whether the user is a bot (looked up with its name, once)."""
        self(user_id)
        return user_id in self._bots

    def __call__(self, user_id: str) -> str:
        if user_id not in self._names:
            try:
                user = self.client.users_info(user=user_id)["user"]
                if user.get("is_bot"):
                    self._bots.add(user_id)
                profile = user.get("profile") or {}
                self._names[user_id] = (
                    profile.get("display_name")
                    or user.get("real_name")
                    or profile.get("real_name")
                    or user.get("name")
                    or user_id
                )
            except Exception:  # an unknown or deleted user still gets a readable label
                self._names[user_id] = user_id
        return self._names[user_id]


def channel_transcript(client: WebClient, channel: str, *, limit: int = 100) -> Transcript:
    """The most recent `limit` human messages of the channel, oldest first, as `Name: text` lines."""
    names = UserNames(client)
    response = client.conversations_history(channel=channel, limit=min(limit, 200))
    human = [
        m
        for m in response.get("messages", [])
        if m.get("subtype") in HUMAN_SUBTYPES and not m.get("bot_id") and m.get("user") and m.get("text", "").strip()
    ]
    lines = []
    for message in reversed(human[:limit]):
        text = _MENTION.sub(lambda match: "@" + names(match.group(1)), message["text"])
        lines.append(f"{names(message['user'])}: {unescape(text)}")
    return Transcript(text="\n".join(lines), message_count=len(lines))
