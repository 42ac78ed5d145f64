"""What a digest will cost, estimated before it is queued, and the line that shows the estimate and the actual cost.

The estimate is messages x tokens x price: up to two `conversations.history` pages of the window (within the
workspace's history budget) give the number of messages, with their thread replies, and their average length; a
window with more is extrapolated from the time those pages cover. The map-reduce of `patterns.digest` is
priced on top: each part's prompt and answer, and the merge of the parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.settings import Settings
from bot.slack.rate_budget import SlackBudget
from bot.text import estimate_tokens
from patterns.digest import MAP_PROMPT, Budget

SAMPLE_PAGE, SAMPLE_PAGES = 900, 2  # up to 1,800 messages counted; a longer window is extrapolated
LINE_TOKENS = 12  # the name, time and reference each transcript line carries besides its text


@dataclass(frozen=True)
class Estimate:
    messages: int
    cost_usd: float

    def shown(self) -> str:
        return f"about {self.messages:,} messages, estimated ${self.cost_usd:,.4f}"


def price(settings: Settings, prompt_tokens: float, completion_tokens: float) -> float:
    """The digest model's price for these tokens (nothing offline)."""
    if not settings.model_configured:
        return 0.0
    price_in, price_out = settings.prices.get(settings.model_for("digest"), (0.0, 0.0))
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000


def estimate(
    client: WebClient,
    budget: SlackBudget,
    settings: Settings,
    *,
    team: str,
    channel: str,
    oldest: float,
    latest: float,
) -> Estimate:
    """Raises `SlackApiError` if the channel cannot be read."""
    messages: list[dict[str, Any]] = []
    cursor, more = None, False
    for _ in range(SAMPLE_PAGES):
        budget.take(team, "conversations.history", important=True, timeout=60)
        page = client.conversations_history(
            channel=channel,
            oldest=str(oldest),
            latest=str(latest),
            limit=SAMPLE_PAGE,
            inclusive=True,
            cursor=cursor,
        )
        messages += page.get("messages") or []
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        more = bool(page.get("has_more") and cursor)
        if not more:
            break
    if not messages:
        return Estimate(0, 0.0)
    sampled = len(messages) + sum(int(m.get("reply_count") or 0) for m in messages)
    scale = 1.0
    if more:  # the rest of the window at the rate of the part read
        covered = latest - min(float(m.get("ts") or latest) for m in messages)
        scale = max(1.0, (latest - oldest) / max(covered, 1.0))
    total = math.ceil(sampled * scale)
    per_message = sum(estimate_tokens(str(m.get("text") or "")) for m in messages) / len(messages) + LINE_TOKENS
    return Estimate(total, digest_price(settings, total * per_message))


def digest_price(settings: Settings, transcript_tokens: float) -> float:
    """The map-reduce of a transcript this long: every part read and answered, then the answers merged."""
    shape = Budget.for_context(settings.model_context_tokens)
    parts = max(1, math.ceil(transcript_tokens / shape.chunk_tokens))
    map_prompt = transcript_tokens + parts * estimate_tokens(MAP_PROMPT)
    map_answers = parts * shape.map_answer_tokens
    merges = math.ceil(parts / 2) if parts > 1 else 0  # a merge tree has fewer nodes than parts
    return price(settings, map_prompt + map_answers, map_answers + merges * shape.reduce_answer_tokens)


def cost_line(estimated: float | None, actual: float) -> str:
    """ "_Estimated $0.0123 before it ran · cost $0.0101_" (the actual cost alone when there was no estimate)."""
    before = f"Estimated ${estimated:,.4f} before it ran · " if estimated is not None else ""
    return f"_{before}cost ${actual:,.4f}_"


def with_cost_line(text: str, blocks: list[dict], line: str, max_blocks: int) -> tuple[str, list[dict]]:
    """The digest message with its cost line at the end (in place of the last section if the message is full)."""
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    return f"{text}\n\n{line}", [*blocks[: max_blocks - 1], context]
