"""The streaming editor: shows a growing model answer in a Slack thread, within Slack's rate limits.

One interface, two transports:
- edits (default): a placeholder message that is edited with `chat.update` as text arrives, and further messages
  when the answer outgrows one (rollover at safe boundaries, see `slack_pages`). The answer goes out in a
  `markdown` block, or in mrkdwn sections where Slack refuses one (`bot.slack.blocks`);
- native: Slack's `chat.startStream` / `appendStream` / `stopStream`. A stream that expires or outgrows one
  message falls back to edits on the same message, without losing text.

Updates are paced by time and size, never per token, and each takes a token from the per-workspace
`SlackBudget` shared by all streams and processes. A 429 is honored: no call is made before `Retry-After` has
passed, and the text that arrives meanwhile is sent in one later update. Whatever happens in between, `finish()`
leaves the messages holding exactly the full answer (formatted), without cursor or buttons.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.slack.blocks import CURSOR as CURSOR
from bot.slack.blocks import MARKDOWN_PAGE, answer_block, answer_pages, fallback_text, markdown_refused
from bot.slack.feedback import feedback_block
from bot.slack.mrkdwn import inert_markdown
from bot.slack.rate_budget import SlackBudget
from bot.slack.stream_chunks import plan_chunk, stream_chunks

log = logging.getLogger(__name__)

THINKING = "_Thinking…_"
THINKING_AFTER_SECONDS = 0.8
STOP_ACTION_ID = "stop_generation"
PAGE_LIMIT = 2_900  # a section block holds 3,000 characters
_DANGLING_ITEM = re.compile(r"(?:^|\n)[ \t]*(?:[-*+]|\d+[.)])[ \t]*$")


@dataclass
class _Page:
    ts: str
    sent: str  # the text Slack shows now


@dataclass
class StreamStats:
    updates: int = 0
    rate_limited: int = 0
    first_text_at: float | None = None
    pages: list[str] = field(default_factory=list)


class StreamingReply:
    def __init__(
        self,
        client: WebClient,
        budget: SlackBudget,
        *,
        team: str,
        channel: str,
        thread_ts: str | None,
        recipient_user: str = "",
        native: bool = False,
        markdown: bool = True,
        plan_title: str | None = None,
        min_interval: float = 1.0,
        min_chars: int = 24,
        should_continue: Callable[[], bool] = lambda: True,
    ) -> None:
        # Our own client without the 429 retry handler: a 429 here is coalesced, not replayed with stale text.
        self.client = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=client.timeout,
            retry_handlers=[h for h in client.retry_handlers if not isinstance(h, RateLimitErrorRetryHandler)],
        )
        self.budget = budget
        self.team, self.channel, self.thread_ts = team, channel, thread_ts
        self.recipient_user = recipient_user
        self.native = native
        self.markdown = markdown  # the answer in a markdown block; False: mrkdwn sections
        self.plan_title = plan_title  # native streams show the agent's steps as tasks of this plan
        self._steps: list[tuple[int, int, dict[str, Any]]] = []  # (start, end, chunk) of StepText in `text`
        self.min_interval, self.min_chars = min_interval, min_chars
        self.should_continue = should_continue
        self.id = uuid.uuid4().hex
        self.text = ""  # the full answer so far (Markdown, as the model wrote it)
        self.stats = StreamStats()
        self._pages: list[_Page] = []
        self._native_sent = 0  # characters of `text` already appended to the native stream
        self._last_flush = 0.0
        self._flushed_chars = 0
        self._blocked_until = 0.0
        self._last_check = 0.0
        self._stopped = False
        self._waiter = threading.Event()
        self._lock = threading.Lock()
        self._thinking: threading.Timer | None = None
        self._prepaid_edit = False
        self._finished = False
        self._feedback_id: str | None = None

    # Public interface -------------------------------------------------------------------------------------

    def start(self, thinking_after: float = THINKING_AFTER_SECONDS) -> None:
        """Begin the reply. Native streams open at once; with edits, the first text is posted as soon as it
        exists, and a thinking message only appears if the model takes longer than `thinking_after` to start.

        Posting the first text directly (instead of editing a placeholder) keeps the per-workspace edit budget
        for later updates, so first text shows quickly even when many answers stream at once.
        """
        if self.native and self.budget.try_take(self.team, "chat.startStream", important=True) > 0:
            log.info("no chat.startStream budget (Tier 2) now; this reply uses edits")
            self.native = False
        if self.native:
            try:
                response = self.client.chat_startStream(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    recipient_team_id=self.team,
                    recipient_user_id=self.recipient_user or None,
                    **(
                        {"task_display_mode": "plan", "chunks": [plan_chunk(self.plan_title)]}
                        if self.plan_title
                        else {}
                    ),
                )
                self._pages.append(_Page(ts=response["ts"], sent=""))
                return
            except SlackApiError as error:
                log.info("native streaming unavailable (%s); using edits", error.response.get("error"))
                self.native = False
        self._thinking = threading.Timer(thinking_after, self._show_thinking)
        self._thinking.daemon = True
        self._thinking.start()

    def _show_thinking(self) -> None:
        with self._lock:
            if self._pages or self._finished:
                return
            # "Thinking…" must later be edited into the answer. The edit is paid for now, ahead of other answers'
            # edits; if the workspace has none to spare, no placeholder: the text is posted when it comes.
            if self.budget.try_take(self.team, "chat.update", urgent=True) > 0:
                log.info("no edit budget for a thinking message; the first text will be posted as it comes")
                return
            self._prepaid_edit = True
            try:
                response = self.client.chat_postMessage(
                    channel=self.channel, thread_ts=self.thread_ts, text=THINKING, blocks=self._blocks(THINKING, True)
                )
                self._pages.append(_Page(ts=response["ts"], sent=THINKING))
            except SlackApiError as error:  # the first text will try again and report the problem
                log.warning("could not post the thinking message: %s", error.response.get("error"))

    def append(self, delta: str) -> bool:
        """Add model output; returns False once the reply should stop (Stop pressed or superseded)."""
        if isinstance(getattr(delta, "chunk", None), dict):  # a step: a task of the plan in a native stream
            self._steps.append((len(self.text), len(self.text) + len(delta), delta.chunk))  # type: ignore[attr-defined]
        self.text += delta
        now = time.monotonic()
        if now - self._last_check >= 0.5:
            self._last_check = now
            if not self.should_continue():
                self._stopped = True
                return False
        first_text = self.stats.first_text_at is None and self.text.strip() != ""
        due = now - self._last_flush >= self.min_interval and len(self.text) - self._flushed_chars >= self.min_chars
        if (first_text or due) and now >= self._blocked_until:
            self._flush(final=False, important=first_text)
        return True

    @property
    def stopped(self) -> bool:
        return self._stopped

    def finish(self, note: str | None = None, *, feedback_id: str | None = None) -> list[str]:
        """Make the messages show the full answer (plus an optional note); returns their texts.

        With `feedback_id`, the last message carries 👍 / 👎 buttons linked to that request.
        """
        self._feedback_id = feedback_id
        if self._thinking is not None:
            self._thinking.cancel()
        if note:
            # A list item the model had only begun ("- ") is dropped, so the note is not rendered as one.
            body = _DANGLING_ITEM.sub("", self.text.rstrip())
            self.text = f"{body}\n\n{note}" if body.strip() else note
        if not self.text.strip():
            self.text = "_(no answer)_"
        self._flush(final=True, important=True)
        self._finished = True
        return [page.sent for page in self._pages]

    def cancel(self) -> None:
        """The reply failed before it could finish: make sure no thinking message appears later."""
        with self._lock:
            self._finished = True
        if self._thinking is not None:
            self._thinking.cancel()

    @property
    def message_ts(self) -> list[str]:
        return [page.ts for page in self._pages]

    # Internals --------------------------------------------------------------------------------------------

    def _flush(self, *, final: bool, important: bool) -> None:
        with self._lock:
            self._flush_locked(final=final, important=important)

    def _flush_locked(self, *, final: bool, important: bool) -> None:
        if self.native and not self._flush_native(final=final, important=important):
            return
        if not self.native:
            try:
                self._flush_edits(final=final, important=important)
            except SlackApiError as error:
                if not (self.markdown and markdown_refused(error.response.get("error"))):
                    raise
                log.info("Slack refused a markdown block; the answer continues in mrkdwn sections")
                self.markdown = False
                self._flush_edits(final=final, important=important)
        self._last_flush = time.monotonic()
        self._flushed_chars = len(self.text)

    def _flush_native(self, *, final: bool, important: bool) -> bool:
        """Append to the native stream; returns True if the edits transport must take over from here."""
        if len(self.text) > (MARKDOWN_PAGE if self.markdown else PAGE_LIMIT):
            self._stop_native()  # closed before the answer continues in edits and more messages
            return self._leave_native("the answer outgrew one message", final)
        pending = self.text[self._native_sent :]
        chunks = stream_chunks(self.text, self._native_sent, self._steps) if self._steps else None
        content: dict[str, Any] = {"chunks": chunks} if chunks else {"markdown_text": inert_markdown(pending)}
        try:
            if pending and self._call(
                "chat.appendStream",
                important or final,
                lambda: self.client.chat_appendStream(channel=self.channel, ts=self._pages[0].ts, **content),
            ):
                self._native_sent += len(pending)
                self._mark_first_text()
            if final:
                blocks = [feedback_block(self._feedback_id)] if self._feedback_id else None
                self._call(
                    "chat.stopStream",
                    True,
                    lambda: self.client.chat_stopStream(channel=self.channel, ts=self._pages[0].ts, blocks=blocks),
                )
                self._pages[0].sent = self.text
            return False
        except SlackApiError as error:
            if error.response.get("error") == "message_not_in_streaming_state":
                return self._leave_native("the stream expired", final)
            raise

    def _stop_native(self) -> None:
        ts = self._pages[0].ts
        try:
            self._call("chat.stopStream", True, lambda: self.client.chat_stopStream(channel=self.channel, ts=ts))
        except SlackApiError as error:  # expired meanwhile: nothing left to close
            log.info("could not stop the stream: %s", error.response.get("error"))

    def _leave_native(self, why: str, final: bool) -> bool:
        log.info("streaming falls back to edits: %s", why)
        self.native = False
        self._pages[0].sent = self.text[: self._native_sent]
        return True

    def _flush_edits(self, *, final: bool, important: bool) -> None:
        pages = answer_pages(self.text, final=final, use_markdown=self.markdown)
        for index, page in enumerate(pages):
            last = index == len(pages) - 1
            streaming = not final and last
            if index < len(self._pages):
                if self._pages[index].sent == page:
                    continue
                ts = self._pages[index].ts
                # A page that is complete (not the last one) gets its final text: that update matters.
                must = important or final or not last
                blocks = self._blocks(page, streaming, feedback=final and last)
                if self._call(
                    "chat.update",
                    must,
                    lambda ts=ts, page=page, blocks=blocks: self.client.chat_update(
                        channel=self.channel, ts=ts, text=fallback_text(page, use_markdown=self.markdown), blocks=blocks
                    ),
                ):
                    self._pages[index].sent = page
                    self._mark_first_text()
                elif not must:
                    return  # no budget now: the text coalesces into a later update
            else:
                response = self._post(page, streaming, feedback=final and last)
                self._pages.append(_Page(ts=response["ts"], sent=page))
                self._mark_first_text()  # the first text is out: later edits are paced progress updates
        self.stats.pages = [page.sent for page in self._pages]

    def _post(self, page: str, streaming: bool, feedback: bool = False) -> Any:
        while True:
            self._wait_out_rate_limit()
            self.budget.pace_post(self.team, self.channel, stop=self._waiter)  # about one a second per channel
            try:
                return self.client.chat_postMessage(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    text=fallback_text(page, use_markdown=self.markdown),
                    blocks=self._blocks(page, streaming, feedback),
                )
            except SlackApiError as error:
                if not self._rate_limited(error):
                    raise

    def _call(self, method: str, important: bool, send: Callable[[], Any]) -> bool:
        """Send within the budget. Important calls wait for budget and 429s; others are skipped if they would."""
        while True:
            if time.monotonic() < self._blocked_until:
                if not important:
                    return False
                self._wait_out_rate_limit()
            if method == "chat.update" and self._prepaid_edit:
                self._prepaid_edit = False  # taken when "Thinking…" was posted, for the edit that replaces it
            elif important:
                if not self.budget.take(self.team, method, important=True, stop=self._waiter):
                    log.warning("no %s budget for 120 s; sending anyway", method)
            elif self.budget.try_take(self.team, method) > 0:
                return False
            try:
                send()
                self.stats.updates += 1
                return True
            except SlackApiError as error:
                if not self._rate_limited(error, method):
                    raise
                if not important:
                    return False
            finally:
                self.budget.sent(self.team, method)

    def _rate_limited(self, error: SlackApiError, method: str = "chat.postMessage") -> bool:
        if error.response.status_code != 429:
            return False
        retry_after = float(error.response.headers.get("Retry-After", error.response.headers.get("retry-after", 1)))
        self.stats.rate_limited += 1
        self._blocked_until = time.monotonic() + retry_after
        # For every answer in the workspace (posts: in the channel), in every process.
        scope = f"{self.team}:{self.channel}" if method == "chat.postMessage" else self.team
        self.budget.pause(scope, method, retry_after)
        log.warning("Slack rate limited a streaming update; next update in %.0f s", retry_after)
        return True

    def _wait_out_rate_limit(self) -> None:
        delay = self._blocked_until - time.monotonic()
        if delay > 0:
            self._waiter.wait(delay)  # honoring Retry-After

    def _mark_first_text(self) -> None:
        if self.stats.first_text_at is None and self.text.strip():
            self.stats.first_text_at = time.monotonic()

    def _blocks(self, text: str, streaming: bool, feedback: bool = False) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [answer_block(text, use_markdown=self.markdown)]
        if feedback and self._feedback_id:
            blocks.append(feedback_block(self._feedback_id))
        if streaming:
            blocks.append(
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": STOP_ACTION_ID,
                            "value": self.id,
                            "text": {"type": "plain_text", "text": "Stop"},
                            "style": "danger",
                        }
                    ],
                }
            )
        return blocks
