"""What a digest job writes to Slack: progress edits, the digest itself exactly once, links to key messages.

The progress message is posted before the job is queued, and every attempt edits that same message, so a retry
never adds a second one. The digest replaces the progress message. A marker in Redis records "posting" before
the edit and "posted" after it: an attempt that finds "posted" posts nothing, and one that finds "posting" (its
predecessor died mid-edit) repeats the edit, which is idempotent. Progress edits stop once the marker is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.format import fit_text
from bot.slack.mrkdwn import to_mrkdwn
from bot.slack.rate_budget import SlackBudget
from digests.request import counted
from patterns.digest import ChatLine, Digest

log = logging.getLogger(__name__)

SECTION_CHARS = 2_900  # a section block holds at most 3,000 characters
MAX_BLOCKS = 50
MAX_LINKS = 40
LINK_FETCHERS = 8
MARKER_SECONDS = 7 * 86_400


class PostMarker:
    """The job's delivery state in Redis: None, "posting" or "posted"."""

    def __init__(self, connection: redis.Redis, job_id: str) -> None:
        self.connection = connection
        self.key = f"digest:posted:{job_id}"

    def state(self) -> str | None:
        value = self.connection.get(self.key)
        return value.decode() if value else None

    def begin(self) -> bool:
        """Start the final edit; False when an earlier attempt already posted the digest."""
        if self.state() == "posted":
            return False
        self.connection.set(self.key, "posting", ex=MARKER_SECONDS)
        return True

    def done(self) -> bool:
        """Mark the digest posted; True for the one attempt that made the change (it writes the ledger row)."""
        previous = self.connection.set(self.key, "posted", ex=MARKER_SECONDS, get=True)
        return previous != b"posted"


class ProgressMessage:
    """Edits the progress message at most once per `interval` seconds, within the workspace's chat.update budget.

    Progress edits are best effort: one that finds no budget is skipped, the next carries newer figures.
    """

    def __init__(
        self,
        client: WebClient,
        budget: SlackBudget,
        *,
        team: str,
        channel: str,
        ts: str,
        interval: float,
        finished: Callable[[], bool],
    ) -> None:
        self.client, self.budget, self.team, self.channel, self.ts = client, budget, team, channel, ts
        self.interval, self.finished = interval, finished
        self._last = 0.0
        self._lock = threading.Lock()

    def update(self, text: str, *, force: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last < self.interval:
                return
            self._last = now  # a skipped update also waits a full interval before the next try
            if self.finished():
                return
            if force:
                self.budget.take(self.team, "chat.update", important=True, timeout=30)
            elif self.budget.try_take(self.team, "chat.update", important=False) > 0:
                return
            try:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=fit_text(text))
            except SlackApiError as error:
                log.warning("digest: progress edit failed: %s", error.response.get("error"))
            finally:
                self.budget.sent(self.team, "chat.update")

    def replace(self, text: str, blocks: list[dict] | None = None) -> None:
        """The final edit (digest, error, cancellation); raises on failure so the caller can retry."""
        self.budget.take(self.team, "chat.update", important=True, timeout=60)
        with self._lock:
            try:
                self.client.chat_update(channel=self.channel, ts=self.ts, text=fit_text(text), blocks=blocks or [])
            finally:
                self.budget.sent(self.team, "chat.update")


class Permalinks:
    """Links to key messages via `chat.getPermalink` (at most `MAX_LINKS` per digest, fetched a few at once)."""

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client, self.channel = client, channel
        self._links: dict[str, str | None] = {}

    def prefetch(self, lines: list[ChatLine]) -> None:
        wanted = list(dict.fromkeys(line.ts for line in lines if line.ts not in self._links))
        wanted = wanted[: max(0, MAX_LINKS - len(self._links))]
        with ThreadPoolExecutor(max_workers=LINK_FETCHERS) as pool:
            self._links.update(zip(wanted, pool.map(self._fetch, wanted)))

    def __call__(self, line: ChatLine) -> str | None:
        if line.ts not in self._links and len(self._links) < MAX_LINKS:
            self._links[line.ts] = self._fetch(line.ts)
        return self._links.get(line.ts)

    def _fetch(self, ts: str) -> str | None:
        try:
            return self.client.chat_getPermalink(channel=self.channel, message_ts=ts)["permalink"]
        except SlackApiError as error:
            log.info("digest: no permalink for a message: %s", error.response.get("error"))
            return None


def digest_message(heading: str, digest: Digest, link: Callable[[ChatLine], str | None]) -> tuple[str, list[dict]]:
    """The digest as fallback text and section blocks (one message holds up to 50 sections)."""
    counts = counted(digest.messages, "message") + (f", {counted(digest.threads, 'thread')}" if digest.threads else "")
    header = f"*{heading}*\n_{counts}_"
    if isinstance(link, Permalinks):
        link.prefetch(digest.key_lines())
    body = to_mrkdwn(digest.to_markdown(link))
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": header}}]
    for part in _sections(body):
        if len(blocks) >= MAX_BLOCKS:
            break
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": part}})
    return f"{header}\n\n{body}", blocks


def _sections(text: str) -> list[str]:
    parts: list[str] = []
    current = ""
    for line in text.splitlines():
        line = line[:SECTION_CHARS]
        if current and len(current) + len(line) + 1 > SECTION_CHARS:
            parts.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current.strip():
        parts.append(current)
    return parts
