"""Global middleware: drop Slack's re-deliveries of an event we already took; refuse foreign response URLs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from bot.slack.response_urls import foreign
from services import Services

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.middleware
    def drop_redeliveries(request: BoltRequest, body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        if request.lazy_only:  # the post-ack half of a request that was taken already (server/work_process.py)
            next()
            return None
        event_id = body.get("event_id")
        if event_id and not services.deduper.first_delivery(f"{body.get('team_id', '')}:{event_id}"):
            log.info("ignoring re-delivery of event %s", event_id)
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        next()
        return None

    @app.middleware
    def refuse_foreign_response_urls(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        if isinstance(body, dict) and (urls := foreign(body, services.settings.slack_api_url)):
            log.warning("refused a request whose response_url is not Slack's: %s", urls[0][:200])
            return BoltResponse(status=400, body="response_url must be Slack's")
        next()
        return None
