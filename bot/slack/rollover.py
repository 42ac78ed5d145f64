"""A finished text too long for one message: the first page goes where the caller puts it, the rest follow as
further messages, paced about one a second per channel through the shared budget (as long chat answers do).

Each message's `text` and its section block hold the same page, so notifications, search and the message agree.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient

from bot.slack.format import section_block
from bot.slack.pages import paginate
from bot.slack.rate_budget import SlackBudget

log = logging.getLogger(__name__)

PAGE_LIMIT = 2_900  # a section block holds 3,000 characters


def pages_of(text: str) -> list[str]:
    """`text` (mrkdwn) split into message-sized pages, never inside a code block."""
    return paginate(text, PAGE_LIMIT)


def page_blocks(page: str, extra: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [section_block(page), *(extra or [])]


def post_rest(
    client: WebClient,
    budget: SlackBudget,
    *,
    team: str,
    channel: str,
    pages: list[str],
    thread_ts: str | None = None,
    last_blocks: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Post `pages` (the ones after the first) in order; the last one carries `last_blocks`. Returns their ts."""
    posted = []
    for index, page in enumerate(pages):
        if not budget.pace_post(team, channel):
            log.warning("no chat.postMessage slot in %s for 60 s; posting anyway", channel)
        extra = last_blocks if index == len(pages) - 1 else None
        response = client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=page, blocks=page_blocks(page, extra)
        )
        posted.append(response["ts"])
    return posted
