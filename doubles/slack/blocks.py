"""Block Kit rules Slack enforces on messages, for the block types the bot sends.

Slack answers ``invalid_blocks`` when a message's blocks break its published limits: at most 50 blocks; a section's
text at most 3,000 characters; ``markdown`` blocks (standard Markdown) at most 12,000 characters all together in
one message; ``context_actions`` holding 1 to 5 ``feedback_buttons`` / ``icon_button`` elements; a feedback
button's text (plain_text) at most 75 characters and its value at most 2,000. ``markdown`` and
``context_actions`` are message-only blocks: a view (App Home, modal) that carries one is refused too.
Block types this module does not know are accepted as they are.
"""

from __future__ import annotations

from typing import Any

from .params import SlackError

MAX_BLOCKS = 50
SECTION_TEXT = 3_000
MARKDOWN_TOTAL = 12_000
MESSAGE_ONLY = frozenset({"markdown", "context_actions"})


def check_blocks(blocks: Any, *, surface: str = "message", markdown: bool = True) -> None:
    """Raise ``invalid_blocks`` when `blocks` breaks one of Slack's rules above (or, with `markdown` False, holds
    a markdown block)."""
    if blocks in (None, "", []):
        return
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackError("invalid_blocks")
    markdown_chars = 0
    for block in blocks:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackError("invalid_blocks")
        kind = block["type"]
        if (kind in MESSAGE_ONLY and surface != "message") or (kind == "markdown" and not markdown):
            raise SlackError("invalid_blocks")
        if kind == "section":
            _text_object(block.get("text"), SECTION_TEXT, required=not block.get("fields"))
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not text:
                raise SlackError("invalid_blocks")
            markdown_chars += len(text)
        elif kind == "context_actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 5:
                raise SlackError("invalid_blocks")
            for element in elements:
                _context_action(element)
    if markdown_chars > MARKDOWN_TOTAL:
        raise SlackError("invalid_blocks")


def _context_action(element: Any) -> None:
    if not isinstance(element, dict) or element.get("type") not in ("feedback_buttons", "icon_button"):
        raise SlackError("invalid_blocks")
    if element["type"] != "feedback_buttons":
        return
    if not isinstance(element.get("action_id", ""), str) or len(element.get("action_id", "")) > 255:
        raise SlackError("invalid_blocks")
    for side in ("positive_button", "negative_button"):
        button = element.get(side)
        if not isinstance(button, dict):
            raise SlackError("invalid_blocks")
        text = button.get("text")
        if not isinstance(text, dict) or text.get("type") != "plain_text":
            raise SlackError("invalid_blocks")
        _text_object(text, 75)
        value = button.get("value")
        if not isinstance(value, str) or not value or len(value) > 2_000:
            raise SlackError("invalid_blocks")


def _text_object(obj: Any, limit: int, *, required: bool = True) -> None:
    if obj is None and not required:
        return
    if not isinstance(obj, dict) or obj.get("type") not in ("mrkdwn", "plain_text"):
        raise SlackError("invalid_blocks")
    text = obj.get("text")
    if not isinstance(text, str) or not text or len(text) > limit:
        raise SlackError("invalid_blocks")
