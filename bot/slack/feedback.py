"""Slack's feedback buttons under answers; votes are stored by `bot.storage.feedback`.

Answers carry a `context_actions` block with one `feedback_buttons` element (Slack's own 👍 / 👎 for AI answers).
Each button's value names the vote and the request it rates. Messages posted before that still carry the older
`actions` block with two plain buttons (`UP` / `DOWN`, value = the request id); their clicks count the same.
"""

from __future__ import annotations

from typing import Any

FEEDBACK = "feedback"  # the action_id of the feedback_buttons element
UP, DOWN = "feedback_up", "feedback_down"  # the plain buttons of older messages
_VOTES = {"up": 1, "down": -1}


def feedback_block(request_id: str) -> dict[str, Any]:
    """The context_actions block carrying 👍 / 👎 for one answer (the values link the vote to the ledger row)."""
    return {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "👍", "emoji": True},
                    "accessibility_label": "Good answer",
                    "value": f"up:{request_id}",
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "👎", "emoji": True},
                    "accessibility_label": "Bad answer",
                    "value": f"down:{request_id}",
                },
            }
        ],
    }


def read_vote(action: dict[str, Any]) -> tuple[int, str] | None:
    """(+1 or -1, request id) from a click on feedback buttons (new or old style); None if it is not a vote."""
    action_id, value = action.get("action_id"), str(action.get("value") or "")
    if action_id in (UP, DOWN):
        return (1 if action_id == UP else -1), value
    kind, _, request_id = value.partition(":")
    if action_id == FEEDBACK and kind in _VOTES and request_id:
        return _VOTES[kind], request_id
    return None
