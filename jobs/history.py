"""Read a channel's window of history as threads, newest first, paging within Slack's rate limits.

`conversations.history` and `conversations.replies` are Tier 3 methods (about 50 calls a minute per workspace).
Every call first takes a token from the shared Redis budget (`bot/slack_budget.py`), so all workers together stay
under the limit; a 429 that happens anyway is retried after `Retry-After` by the client's retry handler.
Threads are read when their parent is in the window and has replies; replies outside the window are left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.slack_budget import SLACK_LIMITS_PER_MINUTE, SlackBudget
from bot.slack_history import HUMAN_SUBTYPES, UserNames, unescape
from patterns.digest import ChatLine, Thread

PAGE_SIZE = 999  # the most Slack returns per call: under a per-minute call limit, fewer pages read faster
REPLY_FETCHERS = 4  # threads read at once (each call still takes a token from the shared budget)
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
        """Threads newest first. The replies of a page's threads are fetched in parallel (a few calls at once,
        all within the budget) while the page is turned into threads in order."""
        window = {"oldest": f"{self.window.oldest:.6f}", "latest": f"{self.window.latest:.6f}", "inclusive": True}
        with ThreadPoolExecutor(max_workers=REPLY_FETCHERS, thread_name_prefix="replies") as pool:
            for page in self._pages("conversations.history", **window):
                wanted = [m for m in page if self._has_replies(m)]
                fetched = dict(zip([m["ts"] for m in wanted],
                                   pool.map(lambda m: self._raw_replies(m, window), wanted)))
                for message in page:
                    thread_ts = message.get("thread_ts")
                    if thread_ts and thread_ts != message["ts"] and float(thread_ts) > self.window.oldest:
                        continue  # a reply also sent to the channel: it is read with its thread
                    replies = [self._line(r, thread_ts=message["ts"]) for r in fetched.get(message["ts"], [])]
                    if not _human(message) and not replies:
                        continue  # bot posts, joins and topic changes, unless people discussed them in a thread
                    yield Thread(parent=self._line(message), replies=replies)

    def _has_replies(self, message: dict[str, Any]) -> bool:
        latest_reply = float(message.get("latest_reply") or message["ts"])
        return bool(message.get("reply_count")) and latest_reply > self.window.oldest

    def _raw_replies(self, parent: dict[str, Any], window: dict[str, Any]) -> list[dict[str, Any]]:
        replies = [m for page in self._pages("conversations.replies", ts=parent["ts"], **window) for m in page
                   if m["ts"] != parent["ts"] and _human(m)]
        return sorted(replies, key=lambda m: float(m["ts"]))

    def _pages(self, method: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
        cursor = None
        call = {"conversations.history": self.client.conversations_history,
                "conversations.replies": self.client.conversations_replies}[method]
        while True:
            if self.should_stop():
                return
            self.budget.take(self.team, method, important=True, timeout=600)
            response = call(channel=self.channel, limit=PAGE_SIZE, cursor=cursor, **params)
            self.api_calls += 1
            yield response.get("messages", [])
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
