"""The shipped Slack app manifest declares what the bot serves, at the path the bot serves it."""

from __future__ import annotations

import json
import re
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


# Slack's app manifest schema, for the fields this manifest uses: allowed keys, types and documented limits.
SCOPE_OF_EVENT = {  # the bot scope each subscribed event needs
    "app_home_opened": None,
    "app_mention": "app_mentions:read",
    "assistant_thread_started": "assistant:write",
    "assistant_thread_context_changed": "assistant:write",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
}
TOP_LEVEL = {"_metadata", "display_information", "features", "oauth_config", "settings"}
FEATURES = {"app_home", "bot_user", "slash_commands", "shortcuts", "agent_view", "assistant_view", "unfurl_domains"}


def test_manifest_follows_slacks_schema_for_the_fields_it_uses() -> None:
    assert set(MANIFEST) <= TOP_LEVEL
    info = MANIFEST["display_information"]
    assert 0 < len(info["name"]) <= 35 and len(info.get("description", "")) <= 140
    assert info["background_color"].startswith("#") and len(info["background_color"]) in (4, 7)
    features = MANIFEST["features"]
    assert set(features) <= FEATURES
    assert "assistant_view" not in features  # Slack's current DM experience replaces it
    assert set(features["agent_view"]) <= {"agent_description", "suggested_prompts"}
    assert 0 < len(features["agent_view"]["agent_description"]) <= 1500
    bot_user = features["bot_user"]
    assert 0 < len(bot_user["display_name"]) <= 80 and isinstance(bot_user["always_online"], bool)
    for command in features["slash_commands"]:
        assert set(command) <= {"command", "url", "description", "usage_hint", "should_escape"}
        assert command["command"].startswith("/") and len(command["command"]) <= 32
        assert 0 < len(command["description"]) <= 2000 and len(command.get("usage_hint", "")) <= 1000
    for shortcut in features.get("shortcuts", []):
        assert set(shortcut) == {"name", "type", "callback_id", "description"}
        assert shortcut["type"] in ("message", "global")
        assert 0 < len(shortcut["name"]) <= 24 and 0 < len(shortcut["description"]) <= 150
        assert 0 < len(shortcut["callback_id"]) <= 255
    scopes = MANIFEST["oauth_config"]["scopes"]["bot"]
    assert len(scopes) == len(set(scopes)) and all(re.fullmatch(r"[a-z_]+(:[a-z_.]+)?", s) for s in scopes)
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) <= set(SCOPE_OF_EVENT), "an event this test does not know the scope of"
    assert {SCOPE_OF_EVENT[e] for e in events} - {None} <= set(scopes), "an event without its scope"
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True  # buttons, shortcuts and modals


def test_manifest_declares_the_agent_surface() -> None:
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert {"assistant_thread_started", "assistant_thread_context_changed", "message.im", "message.groups"} <= events
    assert "assistant:write" in MANIFEST["oauth_config"]["scopes"]["bot"]
    assert "agent_view" in MANIFEST["features"]
