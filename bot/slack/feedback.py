"""The 👍 / 👎 buttons under answers; votes are stored by `bot.storage.feedback`."""

from __future__ import annotations

from typing import Any

UP, DOWN = "feedback_up", "feedback_down"


def feedback_block(request_id: str) -> dict[str, Any]:
    """The actions block carrying 👍 / 👎 for one answer (the value links the vote to the ledger row)."""
    return {
        "type": "actions",
        "block_id": "feedback",
        "elements": [
            {
                "type": "button",
                "action_id": UP,
                "value": request_id,
                "text": {"type": "plain_text", "text": "👍", "emoji": True},
                "accessibility_label": "Good answer",
            },
            {
                "type": "button",
                "action_id": DOWN,
                "value": request_id,
                "text": {"type": "plain_text", "text": "👎", "emoji": True},
                "accessibility_label": "Bad answer",
            },
        ],
    }
