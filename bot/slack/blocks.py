"""How an answer is laid out in messages: Slack's `markdown` block where it is accepted, mrkdwn sections otherwise.

A `markdown` block takes standard Markdown as the model wrote it (no conversion) and holds 12,000 characters, so
most answers fit in one message. Where a markdown block is refused, the answer is converted to mrkdwn and laid out
in section blocks of under 3,000 characters. Either way the message's `text` (notifications, search, clients
without blocks) is the mrkdwn rendering, cut under Slack's 4,000 characters.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.feedback import feedback_block
from bot.slack.format import MAX_TEXT, fit_text
from bot.slack.mrkdwn import inert_markdown, to_mrkdwn
from bot.slack.pages import paginate

CURSOR = " ▍"
MARKDOWN_PAGE = 11_900  # all markdown blocks of a message together hold 12,000 characters
SECTION_PAGE = 2_900  # a section block holds 3,000 characters


def answer_pages(markdown: str, *, final: bool, use_markdown: bool) -> list[str]:
    """The answer split into messages (with a cursor at the end while it is still growing)."""
    if use_markdown:
        return paginate(markdown if final else markdown + CURSOR, MARKDOWN_PAGE)
    rendered = to_mrkdwn(markdown)
    return paginate(rendered if final else rendered + CURSOR, SECTION_PAGE)


def answer_block(page: str, *, use_markdown: bool) -> dict[str, Any]:
    if use_markdown:
        return {"type": "markdown", "text": inert_markdown(page) or " "}
    return {"type": "section", "text": {"type": "mrkdwn", "text": page or " "}}


def fallback_text(page: str, *, use_markdown: bool) -> str:
    """The message's `text`: the page itself in mrkdwn, or the mrkdwn rendering of a markdown page."""
    if not use_markdown:
        return page
    growing = page.endswith(CURSOR)
    text = fit_text(to_mrkdwn(page.removesuffix(CURSOR)), MAX_TEXT - len(CURSOR))
    return text + CURSOR if growing else text


def markdown_refused(error_code: str | None) -> bool:
    """Slack refuses the blocks of a message (for example a markdown block where it does not take one)."""
    return error_code == "invalid_blocks"


def post_answer(
    client: WebClient, *, channel: str, thread_ts: str | None, markdown: str, feedback_id: str | None = None
) -> str:
    """Post a finished, one-message answer (a markdown block, or a mrkdwn section where Slack refuses one), with
    the feedback buttons when `feedback_id` is given; returns its ts."""
    extra = [feedback_block(feedback_id)] if feedback_id else []
    text = fit_text(markdown, MARKDOWN_PAGE)
    try:
        return client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=fallback_text(text, use_markdown=True),
            blocks=[answer_block(text, use_markdown=True), *extra],
        )["ts"]
    except SlackApiError as error:
        if not markdown_refused(error.response.get("error")):
            raise
    page = fit_text(to_mrkdwn(markdown), SECTION_PAGE)
    return client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=page, blocks=[answer_block(page, use_markdown=False), *extra]
    )["ts"]
