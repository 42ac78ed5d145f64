"""Read a channel's window of history as threads, newest first, paging within Slack's rate limits.

`conversations.history` and `conversations.replies` are Tier 3 methods (about 50 calls a minute per workspace).
Every call is first paid for in the shared Redis budget (`bot/slack/rate_budget.py`), so all workers together stay
under the limit; a 429 that happens anyway is retried after `Retry-After` by the client's retry handler. Thread
reads are paid for a few at a time (one round trip buys up to `REPLY_FETCHERS` calls, never more than there are
threads waiting to be read).
Threads are read when their parent is in the window and has replies; replies outside the window are left out.

Reading is a pipeline: the next history page is requested while the replies of the current page's threads are
read, `REPLY_FETCHERS` threads at a time, and each thread is handed on as soon as it and the threads before it are
complete, so the caller can summarize early chunks while later pages and threads are still being read. Calls go
over kept-alive connections (one per reading thread), not a new TCP and TLS connection per call.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode, urlsplit

from slack_sdk import WebClient
from slack_sdk.http_retry.request import HttpRequest as RetryRequest
from slack_sdk.http_retry.response import HttpResponse as RetryResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.slack_response import SlackResponse

from bot.slack.history import HUMAN_SUBTYPES, UserNames, unescape
from bot.slack.rate_budget import SLACK_LIMITS_PER_MINUTE, SlackBudget
from patterns.digest import ChatLine, Thread

PAGE_SIZE = 999  # the most Slack returns per call: under a per-minute call limit, fewer pages read faster
REPLY_FETCHERS = 8  # threads read at once (each call still takes a token from the shared budget)
PAGES_AHEAD = 3  # history pages read ahead of the caller (memory stays bounded whatever the channel's size)
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


class HistoryCalls:
    """`conversations.history` and `conversations.replies` (and `users.info`) as GET requests over kept-alive
    connections.

    slack_sdk's WebClient opens a new connection (TCP, and TLS to slack.com) for every call and sends a form body,
    which dominates reading a channel with hundreds of threads. These calls reuse one connection per reading
    thread. The rest is slack_sdk's: the answer is a `SlackResponse` (a failed call raises `SlackApiError`), and
    429s, 5xx and connection errors go through the client's own retry handlers, which honour `Retry-After`. A
    request on a kept connection that the server closed meanwhile is sent once more on a fresh one (these methods
    only read). Behind a proxy, calls go through the WebClient itself. `close()` closes the connections.
    """

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self.connections = 0  # opened so far
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def __call__(self, method: str, **params: Any) -> SlackResponse:
        client = self.client
        if client.proxy:
            return client.api_call(method, http_verb="GET", params=params)
        query = {**client.default_params, **{k: _param(v) for k, v in params.items() if v is not None}}
        url = f"{client.base_url}{method}?{urlencode(query)}"
        headers = {**client.headers, "Authorization": f"Bearer {client.token}"}
        state = RetryState()
        while True:
            state.next_attempt_requested = False
            try:
                status, response_headers, body = self._get(url, headers)
            except (http.client.HTTPException, OSError) as error:
                if isinstance(error, ConnectionRefusedError) or not isinstance(
                    error, (ConnectionResetError, http.client.RemoteDisconnected, TimeoutError)
                ):
                    error = URLError(error)  # as urllib reports it, so the connection retry handler applies
                if not self._retry(state, url, headers, None, error):
                    raise error from None
                continue
            if status == 200 or not self._retry(
                state, url, headers, RetryResponse(status_code=status, headers=response_headers, data=body), None
            ):
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {"ok": False, "error": f"unexpected response body ({status})"}
                return SlackResponse(
                    client=client,
                    http_verb="GET",
                    api_url=url,
                    req_args={"params": query},
                    data=data,
                    headers=response_headers,
                    status_code=status,
                ).validate()

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()

    def _get(self, url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        for attempt in (1, 2):
            connection, reused = self._connection(parts.scheme, parts.netloc)
            try:
                connection.request("GET", f"{parts.path}?{parts.query}", headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError):
                self._drop(connection)
                if reused and attempt == 1:
                    continue  # the server closed the idle connection: once more on a fresh one
                raise
            if response.will_close:
                self._drop(connection)
            return response.status, dict(response.getheaders()), body
        raise AssertionError("unreachable")

    def _retry(
        self,
        state: RetryState,
        url: str,
        headers: dict[str, str],
        response: RetryResponse | None,
        error: Exception | None,
    ) -> bool:
        request = RetryRequest(method="GET", url=url, headers=headers)  # type: ignore[arg-type]
        for handler in self.client.retry_handlers:
            if handler.can_retry(state=state, request=request, response=response, error=error):
                handler.prepare_for_next_attempt(state=state, request=request, response=response, error=error)
                return True
        return False

    def _connection(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "netloc", None) == (scheme, netloc):
            return connection, True
        if connection is not None:
            self._drop(connection)
        if scheme == "https":
            connection = http.client.HTTPSConnection(netloc, timeout=self.client.timeout, context=self.client.ssl)
        else:
            connection = http.client.HTTPConnection(netloc, timeout=self.client.timeout)
        self._local.connection, self._local.netloc = connection, (scheme, netloc)
        with self._lock:
            self._open.add(connection)
            self.connections += 1
        return connection, False

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            self._open.discard(connection)


def _param(value: Any) -> Any:
    return ("1" if value else "0") if isinstance(value, bool) else value  # as slack_sdk sends booleans


class _UsersOver:
    """What `UserNames` asks of a client (`users.info`), over the reader's kept-alive connections."""

    def __init__(self, calls: HistoryCalls) -> None:
        self.calls = calls

    def users_info(self, *, user: str) -> SlackResponse:
        return self.calls("users.info", user=user)


class _Prepaid:
    """Calls of one method paid for a few at a time: a caller that finds none paid buys up to `batch` in one round
    trip, never more than the calls announced (`expect`) and not yet paid for, so none is bought for a call that is
    not coming; a caller whose call a purchase under way covers waits for it."""

    def __init__(self, budget: SlackBudget, team: str, method: str, batch: int) -> None:
        self.budget, self.team, self.method, self.batch = budget, team, method, batch
        self.unpaid = 0  # calls announced that no purchase covers yet
        self.buying = 0  # calls covered by purchases under way
        self.paid = 0  # calls paid for and not made yet
        self._changed = threading.Condition()

    def expect(self, calls: int) -> None:
        with self._changed:
            self.unpaid += calls

    def take(self) -> None:
        with self._changed:
            while not self.paid and not self.unpaid and self.buying:
                self._changed.wait()
            if self.paid:
                self.paid -= 1
                return
            want = min(self.batch, max(1, self.unpaid))
            covered = min(want, self.unpaid)
            self.unpaid -= covered
            self.buying += covered
        got = 0
        try:
            got = self.budget.take_up_to(self.team, self.method, want, timeout=600)
        finally:
            with self._changed:
                self.buying -= covered
                self.paid += max(0, got - 1)
                self.unpaid += max(0, covered - max(got, 1))  # calls this purchase meant to cover and did not
                self._changed.notify_all()


class ChannelReader:
    """Iterate `threads()` for the window; stops between calls when `should_stop()` turns true."""

    def __init__(
        self,
        client: WebClient,
        budget: SlackBudget,
        *,
        team: str,
        channel: str,
        window: Window,
        should_stop: Callable[[], bool] = lambda: False,
        fetchers: int = REPLY_FETCHERS,
    ) -> None:
        self.client, self.budget, self.team, self.channel, self.window = client, budget, team, channel, window
        self.calls = HistoryCalls(client)
        self.names = UserNames(_UsersOver(self.calls))  # type: ignore[arg-type]
        self.should_stop = should_stop
        self.fetchers = max(1, fetchers)
        self.api_calls = 0
        self._refs = 0
        self._count_lock = threading.Lock()
        self._replies_paid = _Prepaid(budget, team, "conversations.replies", batch=self.fetchers)

    def threads(self) -> Iterator[Thread]:
        """Threads newest first, each as soon as it and the threads before it are read.

        A history page's threads go to the fetchers (`fetchers` reply calls at once, each within the budget) as
        soon as the page arrives, and the next pages are read meanwhile, so the fetchers always have work and the
        caller gets the first threads after one page and a few reply calls.
        """
        window = {"oldest": f"{self.window.oldest:.6f}", "latest": f"{self.window.latest:.6f}", "inclusive": True}
        pager = ThreadPoolExecutor(max_workers=1, thread_name_prefix="history")
        fetchers = ThreadPoolExecutor(max_workers=self.fetchers, thread_name_prefix="replies")
        pages = self._pages(
            "conversations.history",
            lambda: self.budget.take(self.team, "conversations.history", important=True, timeout=600),
            **window,
        )

        def next_page() -> list[tuple[dict[str, Any], Future[list[dict[str, Any]]] | None]] | None:
            page = next(pages, None)
            if page is None:
                return None
            # Names of the page's authors and repliers not seen yet, looked up side by side ahead of the threads
            # (the caller would otherwise wait for them one by one).
            people = {m["user"] for m in page if m.get("user")} | {u for m in page for u in m.get("reply_users", ())}
            lookups = [fetchers.submit(self.names, person) for person in people - named]
            named.update(people)
            with_replies = [m for m in page if self._has_replies(m)]
            self._replies_paid.expect(len(with_replies))
            fetches = {m["ts"]: fetchers.submit(self._raw_replies, m, window) for m in with_replies}
            threads = [(m, fetches.get(m["ts"])) for m in page]
            for lookup in lookups:
                lookup.result()
            return threads

        named: set[str] = set()

        try:
            # Pages are read one after the other on the pager, up to PAGES_AHEAD ahead of the caller.
            ahead = deque(pager.submit(next_page) for _ in range(PAGES_AHEAD))
            while (page := ahead.popleft().result()) is not None:
                ahead.append(pager.submit(next_page))
                for message, replies_read in page:
                    thread_ts = message.get("thread_ts")
                    if thread_ts and thread_ts != message["ts"] and float(thread_ts) > self.window.oldest:
                        continue  # a reply also sent to the channel: it is read with its thread
                    if self._with_a_bot(message):
                        continue  # the bot's own traffic, and conversations people started with a bot
                    raw = replies_read.result() if replies_read is not None else []
                    replies = [self._line(r, thread_ts=message["ts"]) for r in raw if not self._with_a_bot(r)]
                    if not _human(message) and not replies:
                        continue  # bot posts, joins and topic changes, unless people discussed them in a thread
                    yield Thread(parent=self._line(message), replies=replies)
        finally:
            pager.shutdown(wait=True, cancel_futures=True)
            fetchers.shutdown(wait=True, cancel_futures=True)
            self.calls.close()

    def _with_a_bot(self, message: dict[str, Any]) -> bool:
        """Posted by a bot user (such as this bot's answers), or addressed to one (`@bot ...`): not discussion
        between people, so not digested. Integrations that post without a user (CI, alerts) still count."""
        if message.get("bot_id") and message.get("user") and self.names.is_bot(message["user"]):
            return True
        text = message.get("text") or ""
        return "<@" in text and any(self.names.is_bot(user) for user in _USER_MENTION.findall(text))

    def _has_replies(self, message: dict[str, Any]) -> bool:
        latest_reply = float(message.get("latest_reply") or message["ts"])
        return bool(message.get("reply_count")) and latest_reply > self.window.oldest

    def _raw_replies(self, parent: dict[str, Any], window: dict[str, Any]) -> list[dict[str, Any]]:
        replies = [
            m
            for page in self._pages("conversations.replies", self._replies_paid.take, ts=parent["ts"], **window)
            for m in page
            if m["ts"] != parent["ts"] and _human(m)
        ]
        return sorted(replies, key=lambda m: float(m["ts"]))

    def _pages(self, method: str, pay: Callable[[], Any], **params: Any) -> Iterator[list[dict[str, Any]]]:
        cursor = None
        while True:
            if self.should_stop():
                return
            pay()
            response = self.calls(method, channel=self.channel, limit=PAGE_SIZE, cursor=cursor, **params)
            with self._count_lock:
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
        return ChatLine(
            ref=f"m{self._refs}",
            ts=message["ts"],
            author=author,
            text=self._clean(message.get("text") or "(no text)"),
            thread_ts=thread_ts,
        )

    def _clean(self, text: str) -> str:
        if "<" in text:  # mentions, links and @here are all in angle brackets; most messages have none
            text = _USER_MENTION.sub(lambda m: "@" + self.names(m.group(1)), text)
            text = _CHANNEL_MENTION.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
            text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
            text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
        return unescape(text) if "&" in text else text


def _human(message: dict[str, Any]) -> bool:
    return (
        message.get("subtype") in HUMAN_SUBTYPES
        and not message.get("bot_id")
        and bool(message.get("user"))
        and bool((message.get("text") or "").strip())
    )
