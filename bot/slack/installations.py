"""Multi-workspace installs: the OAuth flow (`/slack/install`, `/slack/oauth_redirect`) and the installations,
kept in the bot's database by slack_sdk's SQLAlchemy stores, so one deployment serves many workspaces.
"""

from __future__ import annotations

import json
from pathlib import Path

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.engine import Engine

from bot.settings import Settings

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"
INSTALL_PATH, REDIRECT_PATH = "/slack/install", "/slack/oauth_redirect"


def bot_scopes() -> list[str]:
    """The scopes an install asks for: the manifest's, so there is one list to keep up to date."""
    return json.loads(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"]


def stores(settings: Settings, engine: Engine) -> tuple[SQLAlchemyInstallationStore, SQLAlchemyOAuthStateStore]:
    installations = SQLAlchemyInstallationStore(client_id=settings.slack_client_id or "", engine=engine)
    states = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine)
    return installations, states


def create_tables(settings: Settings, engine: Engine) -> None:
    """slack_sdk owns these tables' schema; create them once, before the workers start."""
    for store in stores(settings, engine):
        store.metadata.create_all(engine)


def oauth_settings(settings: Settings, engine: Engine) -> OAuthSettings:
    installations, states = stores(settings, engine)
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.secret("slack_client_secret"),
        scopes=bot_scopes(),
        installation_store=installations,
        state_store=states,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=settings.slack_oauth_authorize_url,
    )


def installed_bot_token(settings: Settings, engine: Engine, team_id: str) -> str | None:
    """The bot token of the workspace's installation (None if it is not installed), for work done outside a
    Slack request: digest jobs and schedules act in many workspaces, each with its own token."""
    installations, _ = stores(settings, engine)
    installation = installations.find_bot(enterprise_id=None, team_id=team_id)
    return installation.bot_token if installation is not None else None
