"""Read a channel's window of history as threads, newest first, paging within Slack's rate limits.

`conversations.history` and `conversations.replies` are Tier 3 methods (about 50 calls a minute per workspace).
Every call first takes a token from the shared Redis budget (`bot/slack_budget.py`), so all workers together stay
under the limit; a 429 that happens anyway is retried after `Retry-After` by the client's retry handler.
Threads are read when their parent is in the window and has replies; replies outside the window are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.slack_budget import SLACK_LIMITS_PER_MINUTE, SlackBudget
from bot.slack_history import HUMAN_SUBTYPES, UserNames, unescape
from patterns.digest import ChatLine, Thread

PAGE_SIZE = 200  # Slack's recommended page size for conversations.history
HISTORY_METHODS = ("conversations.history", "conversations.replies")
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_MENTION = re.compile(r"<#(C[A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)[^>]*>")


def history_budget(redis_client: Any, per_minute: int) -> SlackBudget:
    """One budget for the history methods (and chat.update, shared with streaming replies)."""
    limits = {method: per_minute for method in HISTORY_METHODS}
    limits["chat.update"] = SLACK_LIMITS_PER_MINUTE["chat.update"]
    return SlackBudget(redis_client, limits)


@dataclass
class Window:
    oldest: float  # epoch seconds, exclusive
    latest: float  # epoch seconds, inclusive; fixed when the job is queued, so a retry reads the same messages


class ChannelReader:
    """Iterate `threads()` for the window; stops between calls when `should_stop()` turns true."""

    def __init__(self, client: WebClient, budget: SlackBudget, *, team: str, channel: str, window: Window,
                 should_stop: Callable[[], bool] = lambda: False) -> None:
        self.client, self.budget, self.team, self.channel, self.window = client, budget, team, channel, window
        self.names = UserNames(client)
        self.should_stop = should_stop
        self.api_calls = 0
        self._refs = 0

    def threads(self) -> Iterator[Thread]:
        for message in self._pages("conversations.history", oldest=f"{self.window.oldest:.6f}",
                                   latest=f"{self.window.latest:.6f}", inclusive=True):
            thread_ts = message.get("thread_ts")
            if thread_ts and thread_ts != message["ts"] and float(thread_ts) > self.window.oldest:
                continue  # a reply also sent to the channel: it is read with its thread
            replies = self._replies(message) if message.get("reply_count") else []
            if not _human(message) and not replies:
                continue  # bot posts, joins and topic changes, unless people discussed them in a thread
            yield Thread(parent=self._line(message), replies=replies)

    def _replies(self, parent: dict[str, Any]) -> list[ChatLine]:
        latest_reply = float(parent.get("latest_reply") or parent["ts"])
        if latest_reply <= self.window.oldest:
            return []
        replies = []
        for message in self._pages("conversations.replies", ts=parent["ts"], oldest=f"{self.window.oldest:.6f}",
                                   latest=f"{self.window.latest:.6f}", inclusive=True):
            if message["ts"] != parent["ts"] and _human(message):
                replies.append(self._line(message, thread_ts=parent["ts"]))
        replies.sort(key=lambda line: float(line.ts))
        return replies

    def _pages(self, method: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor = None
        call = {"conversations.history": self.client.conversations_history,
                "conversations.replies": self.client.conversations_replies}[method]
        while True:
            if self.should_stop():
                return
            self.budget.take(self.team, method, important=True, timeout=600)
            response = call(channel=self.channel, limit=PAGE_SIZE, cursor=cursor, **params)
            self.api_calls += 1
            yield from response.get("messages", [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not response.get("has_more") or not cursor:
                return

    def _line(self, message: dict[str, Any], thread_ts: str | None = None) -> ChatLine:
        self._refs += 1
        if _human(message):
            author = self.names(message["user"])
        else:
            author = message.get("username") or (message.get("bot_profile") or {}).get("name") or "a bot"
        return ChatLine(ref=f"m{self._refs}", ts=message["ts"], author=author,
                        text=self._clean(message.get("text") or "(no text)"), thread_ts=thread_ts)

    def _clean(self, text: str) -> str:
        text = _USER_MENTION.sub(lambda m: "@" + self.names(m.group(1)), text)
        text = _CHANNEL_MENTION.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
        text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
        text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
        return unescape(text)


def _human(message: dict[str, Any]) -> bool:
    return (message.get("subtype") in HUMAN_SUBTYPES and not message.get("bot_id") and bool(message.get("user"))
            and bool((message.get("text") or "").strip()))
