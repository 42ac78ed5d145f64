"""👍 / 👎 clicks on answers (Slack's feedback buttons, or the older plain buttons): store the vote with the
request and thank the voter (only they see it)."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, Respond

from bot.slack.ack_first import ack_at_once
from bot.slack.feedback import DOWN, FEEDBACK, UP, read_vote
from bot.storage.feedback import FeedbackStore
from services import Services

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    store = FeedbackStore(services.ledger)

    def on_vote(action: dict[str, Any], body: dict[str, Any], respond: Respond) -> None:
        read = read_vote(action)
        if read is None:
            log.warning("feedback: a click on %s carried a value that names no vote", action.get("action_id"))
            respond(text="Sorry, I couldn't read that vote.", response_type="ephemeral", replace_original=False)
            return
        vote, request_id = read
        user = (body.get("user") or {}).get("id", "")
        team = (body.get("team") or {}).get("id", "")
        try:
            store.vote(request_id=request_id, workspace=team, user=user, vote=vote)
        except Exception:
            log.exception("feedback: could not store a vote")
            respond(
                text="Sorry, I couldn't record that vote. Please try again.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        thanks = "Thanks, glad it helped!" if vote > 0 else "Thanks, noted. This answer will be reviewed."
        respond(text=thanks, response_type="ephemeral", replace_original=False)

    app.action(re.compile(f"^({FEEDBACK}|{UP}|{DOWN})$"))(ack=ack_at_once, lazy=[on_vote])
