"""The Slack Web API client every part of the bot uses: configurable base URL, retries on 429/5xx/network."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy.engine import Engine

from bot.settings import Settings

log = logging.getLogger(__name__)


def slack_client(settings: Settings, token: str | None = None, *, per_workspace: bool = False) -> WebClient:
    """A WebClient on `SLACK_API_URL` that honors `Retry-After` on 429 and retries 5xx and connection errors.

    `per_workspace`: no token of its own (OAuth installs: each request brings its workspace's token).
    """
    return WebClient(
        token=None if per_workspace else token or settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=5),
            ServerErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ],
    )


def workspace_client(settings: Settings, engine: Engine, team_id: str) -> WebClient:
    """The client for work done outside a Slack request (digest jobs, schedules) in one workspace: with OAuth
    installs, that workspace's bot token from the installation store in `engine`; otherwise `SLACK_BOT_TOKEN`."""
    if not settings.oauth_enabled:
        return slack_client(settings)
    from bot.slack.installations import installed_bot_token

    token = installed_bot_token(settings, engine, team_id)
    if token is None:
        log.error("workspace %s has no installation (uninstalled?); its Slack calls will be refused", team_id)
    return slack_client(settings, token=token, per_workspace=token is None)
