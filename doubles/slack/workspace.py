"""The workspace the server keeps: users, conversations with their messages and threads, edits and streams.

`Workspace` holds the state, the seeding and inspection API tests use, and the helpers the Web API families
(the other modules of this package) build on. All state is guarded by the server lock; inspection returns copies.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from ..http_server import BackgroundServer
from .params import Payload, SlackError

DEFAULT_USER = "UHUMAN"
_TS_BASE_MICROS = 1_700_000_000 * 1_000_000
_TS_STEP_MICROS = 100


@dataclass
class Conversation:
    info: Payload
    members: list[str]
    messages: dict[str, Payload] = field(default_factory=dict)  # ts -> message, oldest first
    threads: dict[str, list[str]] = field(default_factory=dict)  # parent ts -> reply ts


@dataclass
class Stream:
    state: str  # "streaming" | "stopped" | "expired"
    recipient_team_id: str | None = None
    recipient_user_id: str | None = None


class Workspace(BackgroundServer):
    """One Slack workspace in memory, served over HTTP by `SlackServer`."""

    def __init__(self, port: int, team_id: str, bot_user_id: str, bot_id: str, max_text_length: int) -> None:
        super().__init__(port)
        self.team_id = team_id
        self.team_name = "Playground"
        self.team_domain = "playground"
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = "A111"
        self.max_text_length = max_text_length
        self.users: dict[str, Payload] = {}
        self.channels: dict[str, Conversation] = {}
        self.ephemerals: list[Payload] = []
        self.views: dict[str, Payload] = {}
        self.responses: list[Payload] = []
        self._ts_counter = 0
        self._ts_base_micros = _TS_BASE_MICROS  # see set_clock()
        self._live_clock = False  # see follow_real_time()
        self._edits: dict[tuple[str, str], list[str]] = {}
        self._streams: dict[tuple[str, str], Stream] = {}
        self.thread_statuses: dict[tuple[str, str], Payload] = {}  # (channel, thread ts) -> status
        self.suggested_prompts: dict[tuple[str, str], Payload] = {}  # (channel, thread ts or "") -> prompts
        self.thread_titles: dict[tuple[str, str], str] = {}
        self.modals: list[Payload] = []  # views.open, in order
        self.markdown_blocks = True  # False: refuse `markdown` blocks, as surfaces that do not take them do

    # -- seeding -----------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        name: str,
        real_name: str | None = None,
        is_bot: bool = False,
        *,
        display_name: str | None = None,
    ) -> Payload:
        """Create or replace a user; returns its users.info object.

        ``profile.display_name`` defaults to `name`; pass ``display_name=""`` for a user
        who never set one (common in real workspaces).
        """
        real = real_name or name
        shown = name if display_name is None else display_name
        user: Payload = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": real,
            "deleted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "tz": "UTC",
            "tz_offset": 0,
            "profile": {"real_name": real, "display_name": shown, "team": self.team_id},
        }
        if is_bot and user_id == self.bot_user_id:
            user["profile"]["bot_id"] = self.bot_id
        with self._lock:
            self.users[user_id] = user
            self.notify()
        return copy.deepcopy(user)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        is_member: bool = True,
        is_im: bool = False,
        *,
        is_private: bool = False,
        user: str | None = None,
        members: list[str] | None = None,
    ) -> Payload:
        """Create or replace a conversation; `user` is the other party of an IM."""
        info: Payload = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_im and not is_private,
            "is_group": False,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or is_im,
            "is_archived": False,
            "is_general": False,
            "is_member": is_member,
            "created": 1_700_000_000,
            "context_team_id": self.team_id,
        }
        if is_im:
            info["user"] = user or DEFAULT_USER
            del info["name"]
        roster = list(members or ([info["user"]] if is_im else []))
        if is_member and self.bot_user_id not in roster:
            roster.insert(0, self.bot_user_id)
        with self._lock:
            self.channels[channel_id] = Conversation(info, roster)
            self.notify()
        return copy.deepcopy(info)

    def post(
        self,
        channel: str,
        text: str,
        user: str | None = None,
        thread_ts: str | None = None,
        bot_id: str | None = None,
        subtype: str | None = None,
    ) -> str:
        """Add a message as if a person (default ``UHUMAN``) or a bot posted it; returns its ts."""
        with self._lock:
            conversation = self._known_conversation(channel)
            message: Payload = {"type": "message", "text": text, "team": self.team_id}
            if user or not bot_id:
                message["user"] = user or DEFAULT_USER
            if bot_id:
                message["bot_id"] = bot_id
            if subtype:
                message["subtype"] = subtype
            return self._store(conversation, message, thread_ts)

    def set_clock(self, epoch_seconds: float | None) -> None:
        """Stamp messages created from now on upward from `epoch_seconds` (None: the fixed 2023 base).

        Lets tests seed history inside a real time window ("the last 24 hours"). Stamps keep rising as long
        as the clock only moves forward; `reset()` returns to the fixed base.
        """
        with self._lock:
            base = _TS_BASE_MICROS if epoch_seconds is None else int(epoch_seconds * 1_000_000)
            self._ts_base_micros = base - self._ts_counter * _TS_STEP_MICROS

    def follow_real_time(self) -> None:
        """From now on stamp every message with the time it is created (still always rising), as Slack does;
        the playground's clock. `reset()` returns to the fixed base."""
        with self._lock:
            self._live_clock = True

    def expire_stream(self, channel: str, ts: str) -> None:
        """Make a stream expire: later appendStream/stopStream answer message_not_in_streaming_state."""
        with self._lock:
            self._streams[(channel, ts)].state = "expired"
            self.notify()

    def _reset_workspace(self) -> None:
        """Forget messages, edits, streams, views, ephemerals and responses; keep users and channels (lock held)."""
        for conversation in self.channels.values():
            conversation.messages.clear()
            conversation.threads.clear()
        self.ephemerals.clear()
        self.views.clear()
        self.responses.clear()
        self._edits.clear()
        self._ts_base_micros = _TS_BASE_MICROS
        self._live_clock = False
        self._streams.clear()
        self.thread_statuses.clear()
        self.suggested_prompts.clear()
        self.thread_titles.clear()
        self.modals.clear()
        self.markdown_blocks = True

    # -- inspection --------------------------------------------------------------------

    def messages(self, channel: str) -> list[Payload]:
        """Messages visible in the channel (top level and broadcasts), oldest first."""
        with self._lock:
            conversation = self._known_conversation(channel)
            return [self._render(conversation, m) for m in conversation.messages.values() if in_history(m)]

    def message(self, channel: str, ts: str) -> Payload | None:
        """The message with this ts (top level or reply), or None."""
        with self._lock:
            conversation = self._known_conversation(channel)
            found = conversation.messages.get(ts)
            return self._render(conversation, found) if found else None

    def replies(self, channel: str, thread_ts: str) -> list[Payload]:
        """The thread: parent first (when it exists), then replies oldest first."""
        with self._lock:
            conversation = self._known_conversation(channel)
            return [self._render(conversation, m) for m in self._thread(conversation, thread_ts)]

    def edits(self, channel: str, ts: str) -> list[str]:
        """Every text the message had, in order: as posted, then after each update/append."""
        with self._lock:
            return list(self._edits.get((channel, ts), []))

    def stream_state(self, channel: str, ts: str) -> str | None:
        """``"streaming"``, ``"stopped"``, ``"expired"`` or None for non-stream messages."""
        with self._lock:
            stream = self._streams.get((channel, ts))
            return stream.state if stream else None

    # -- state helpers (lock held) -----------------------------------------------------

    def _channel_name(self, channel: str) -> str:
        """The ``channel_name`` of payloads: the name, ``directmessage``/``privategroup``, else the id."""
        conversation = self.channels.get(channel)
        if conversation is None:
            return channel
        if conversation.info["is_im"]:
            return "directmessage"
        return "privategroup" if conversation.info["is_private"] else str(conversation.info["name"])

    def _next_ts(self) -> str:
        self._ts_counter += 1
        micros = self._ts_base_micros + self._ts_counter * _TS_STEP_MICROS
        if self._live_clock and (now := int(time.time() * 1_000_000)) > micros:
            micros = now
            self._ts_base_micros = now - self._ts_counter * _TS_STEP_MICROS
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _conversation(self, channel: Any) -> Conversation:
        """Find a conversation by id, name (``#name`` too) or IM partner; else channel_not_found."""
        key = str(channel or "")
        if key in self.channels:
            return self.channels[key]
        for conversation in self.channels.values():
            info = conversation.info
            if info.get("name") == key.lstrip("#") or (info["is_im"] and info.get("user") == key):
                return conversation
        raise SlackError("channel_not_found")

    def _known_conversation(self, channel: str) -> Conversation:
        """`_conversation` for the Python API: unknown channels are a KeyError."""
        try:
            return self._conversation(channel)
        except SlackError:
            raise KeyError(f"unknown channel {channel!r}: add_channel() it first") from None

    def _member_conversation(self, channel: Any) -> Conversation:
        conversation = self._conversation(channel)
        if not conversation.info["is_member"]:
            raise SlackError("not_in_channel")
        return conversation

    def _store(self, conversation: Conversation, message: Payload, thread_ts: str | None) -> str:
        """Assign a ts, file the message (into a thread when asked) and record its first text."""
        if thread_ts:
            parent_ts = self._parent_ts(conversation, str(thread_ts))
            message["thread_ts"] = parent_ts
            parent = conversation.messages.get(parent_ts)
            if parent is not None and parent.get("user"):
                message["parent_user_id"] = parent["user"]
        ts = self._next_ts()
        message["ts"] = ts
        conversation.messages[ts] = message
        if thread_ts:
            conversation.threads.setdefault(message["thread_ts"], []).append(ts)
            if message.get("user") == self.bot_user_id:  # Slack clears the app's status when it replies
                self.thread_statuses.pop((conversation.info["id"], message["thread_ts"]), None)
        self._edits[(conversation.info["id"], ts)] = [message.get("text", "")]
        self.notify()
        return ts

    def _parent_ts(self, conversation: Conversation, thread_ts: str) -> str:
        """The thread a reply to `thread_ts` belongs to (a reply's ts maps to its parent).

        A parent the server never saw is accepted: tests often deliver events for
        messages that were not seeded, and the bot's replies still form a thread.
        """
        parent = conversation.messages.get(thread_ts)
        return str(parent.get("thread_ts", thread_ts)) if parent is not None else thread_ts

    def _thread(self, conversation: Conversation, thread_ts: str) -> list[Payload]:
        parent = conversation.messages.get(thread_ts)
        if parent is not None and parent.get("thread_ts", thread_ts) != thread_ts:
            thread_ts = parent["thread_ts"]
            parent = conversation.messages.get(thread_ts)
        replies = [conversation.messages[ts] for ts in conversation.threads.get(thread_ts, [])]
        return ([parent] if parent is not None else []) + replies

    def _render(self, conversation: Conversation, message: Payload) -> Payload:
        """A copy of a stored message with Slack's thread summary on parents."""
        rendered = copy.deepcopy(message)
        reply_ts = conversation.threads.get(message["ts"])
        if reply_ts:
            repliers = [conversation.messages[ts].get("user") for ts in reply_ts]
            reply_users = list(dict.fromkeys(user for user in repliers if user))
            rendered.update(
                thread_ts=message["ts"],
                reply_count=len(reply_ts),
                reply_users=reply_users,
                reply_users_count=len(reply_users),
                latest_reply=reply_ts[-1],
            )
        return rendered


def in_history(message: Payload) -> bool:
    """Whether conversations.history shows the message (top level or broadcast reply)."""
    thread_ts = message.get("thread_ts")
    return thread_ts is None or thread_ts == message["ts"] or message.get("subtype") == "thread_broadcast"
