"""The shipped Slack app manifest declares what the bot serves, at the path the bot serves it."""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = json.loads((Path(__file__).resolve().parent.parent / "manifest.json").read_text())


def test_manifest_declares_commands_events_and_interactivity_on_slack_events() -> None:
    commands = {c["command"]: c for c in MANIFEST["features"]["slash_commands"]}
    assert set(commands) == {"/summarize", "/digest", "/usage"}
    settings = MANIFEST["settings"]
    urls = [c["url"] for c in commands.values()]
    urls += [settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]]
    assert all(url.endswith("/slack/events") for url in urls)
    assert {"app_mention", "message.im", "message.channels"} <= set(settings["event_subscriptions"]["bot_events"])
    assert settings["interactivity"]["is_enabled"] is True
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    # What /summarize and chat need: post and edit, read history, resolve names, receive mentions and DMs.
    assert {"chat:write", "commands", "channels:history", "users:read", "app_mentions:read", "im:history"} <= scopes
