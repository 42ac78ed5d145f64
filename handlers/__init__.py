"""Thin Slack listeners: parse the request, call a pattern, render the result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from bot.slack.client import slack_client
from handlers import (
    assistant,
    chat,
    digest_command,
    fallbacks,
    feedback,
    home,
    middleware,
    shortcuts,
    summarize,
    usage,
)
from services import Services


def create_app(services: Services, *, verify_requests: bool = True) -> App:
    """The Bolt app with every listener registered.

    Acks are sent from the request's own thread (`process_before_response`): a listener's ack function does only
    what the ack needs, and the slow work runs afterwards as a Bolt lazy listener on a large thread pool (Bolt's
    default is five threads, so five slow model calls would hold up everything else). An ack then never waits
    for a pool thread to be scheduled behind earlier requests' work. In HTTP mode that work runs in a separate
    work process (`server/work_process.py`), whose app is built with `verify_requests=False`: it takes calls only
    from its web process, which checked each request's signature already.
    """
    settings = services.settings
    oauth = None
    if settings.oauth_enabled:  # many workspaces: each request is authorised with its workspace's install
        from bot.slack.installations import oauth_settings

        oauth = oauth_settings(settings, services.ledger.engine)
    app = App(
        client=slack_client(settings, per_workspace=oauth is not None),
        signing_secret=settings.secret("slack_signing_secret") or "",
        token_verification_enabled=False,
        request_verification_enabled=verify_requests,
        oauth_settings=oauth,
        process_before_response=True,
        listener_executor=ThreadPoolExecutor(max_workers=settings.listener_threads, thread_name_prefix="listener"),
    )
    middleware.register(app, services)
    summarize.register(app, services)
    assistant.register(app, services)  # before chat and usage: it takes the DM's channel requests and Messages tab
    chat.register(app, services)
    feedback.register(app, services)
    usage.register(app, services)
    home.register(app, services)
    digest_command.register(app, services)
    shortcuts.register(app, services)
    fallbacks.register(app)
    return app
