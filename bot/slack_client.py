"""The Slack Web API client every part of the bot uses: configurable base URL, retries on 429/5xx/network."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.settings import Settings


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
