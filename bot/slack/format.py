"""Small rules for what the bot writes to Slack: message size and plain-words explanations of Slack errors."""

from __future__ import annotations

from typing import Any

from bot.slack.mrkdwn import safe_cut

MAX_TEXT = 3_900  # Slack answers msg_too_long near 4,000 characters of `text`

SLACK_ERRORS = {
    "not_in_channel": "I'm not a member of this channel. Invite me with `/invite @bot` and try again.",
    "channel_not_found": "I can't see this channel. Invite me to it (or use me in a channel I'm in) and try again.",
    "is_archived": "This channel is archived, so I can't post in it.",
    "missing_scope": "I don't have the permission this needs. An admin should reinstall the app.",
    "ratelimited": "Slack is rate limiting me right now. Please try again in a minute.",
    "msg_too_long": "The answer was too long for a Slack message.",
}


def slack_error_message(code: str) -> str:
    return SLACK_ERRORS.get(code, f"Slack refused my request ({code}). Please try again.")


def section_block(text: str) -> dict[str, Any]:
    """A mrkdwn section (at most 3,000 characters, Slack's limit for one section)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": fit_text(text, 3_000) or " "}}


def fit_text(text: str, limit: int = MAX_TEXT) -> str:
    """Cut text to Slack's limit at a line or word boundary, saying that it was cut."""
    if len(text) <= limit:
        return text
    marker = "\n… (cut to fit Slack's message size)"
    cut = text[: limit - len(marker)]
    boundary = max(cut.rfind("\n"), cut.rfind(" "))
    if boundary > limit // 2:
        cut = cut[:boundary]
    cut = cut[: safe_cut(cut, len(cut))]
    if cut.count("```") % 2:
        cut += "\n```"
    return cut + marker
