"""Send requests to a bot the way Slack does: signed bodies with Slack's headers and payload shapes.

Used by the tests, the benchmarks and the playground. Shapes follow real Slack payloads (slash commands are
form-encoded; events are JSON `event_callback` envelopes).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

_ids = itertools.count(1)


@dataclass
class SlackResponse:
    status: int
    body: str
    headers: httpx.Headers
    elapsed_ms: float


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature: HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SlackSender:
    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        *,
        team_id: str = "T111",
        app_id: str = "A111",
        bot_user_id: str = "UBOT",
        timeout: float = 30.0,
    ) -> None:
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=500))

    def close(self) -> None:
        self.http.close()

    def slash_command(
        self,
        command: str,
        text: str = "",
        *,
        user: str = "W111",
        user_name: str = "alice",
        channel: str = "C111",
        channel_name: str = "general",
        response_url: str = "",
        trigger_id: str | None = None,
    ) -> SlackResponse:
        n = next(_ids)
        form = {
            "token": "verification_token",
            "team_id": self.team_id,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or f"https://hooks.slack.com/commands/{self.team_id}/{n}/x",
            "trigger_id": trigger_id or f"{n}.{int(time.time())}.{hashlib.sha1(str(n).encode()).hexdigest()[:12]}",
        }
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded")

    def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> SlackResponse:
        envelope = {
            "token": "verification_token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:16].upper()}",  # unique across processes, as Slack's
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(json.dumps(envelope).encode(), "application/json", headers=headers)

    def mention(
        self,
        text: str,
        *,
        user: str = "W111",
        channel: str = "C111",
        ts: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
    ) -> SlackResponse:
        ts = ts or f"{time.time():.6f}"
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@{self.bot_user_id}> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "team": self.team_id,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, event_id=event_id, retry_num=retry_num)

    def block_action(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "W111",
        channel: str = "C111",
        message_ts: str = "",
        response_url: str = "",
        element_type: str = "button",
    ) -> SlackResponse:
        """A click on a button (or another element, e.g. ``feedback_buttons``): a `block_actions` payload,
        form-encoded as Slack sends it."""
        n = next(_ids)
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "verification_token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": f"{n}.{int(time.time())}.action",
            "channel": {"id": channel, "name": "general"},
            "message": {"type": "message", "ts": message_ts, "bot_id": "BBOT"},
            "response_url": response_url or f"https://hooks.slack.com/actions/{self.team_id}/{n}/x",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "actions",
                    "value": value,
                    "type": element_type,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")

    def shortcut(
        self, callback_id: str, *, user: str = "W111", message: dict[str, Any] | None = None, channel: str = "C111"
    ) -> SlackResponse:
        """A global shortcut (`shortcut`), or with `message` a message shortcut (`message_action`)."""
        n = next(_ids)
        payload: dict[str, Any] = {
            "type": "message_action" if message else "shortcut",
            "token": "verification_token",
            "action_ts": f"{time.time():.6f}",
            "team": {"id": self.team_id, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "callback_id": callback_id,
            "trigger_id": f"{n}.{int(time.time())}.shortcut",
            "is_enterprise_install": False,
            "enterprise": None,
        }
        if message:
            payload |= {
                "channel": {"id": channel, "name": "general"},
                "message": message,
                "message_ts": message.get("ts", ""),
                "response_url": f"https://hooks.slack.com/app/{self.team_id}/{n}/x",
            }
        return self.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")

    def view_submission(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "W111") -> SlackResponse:
        """A modal's submission (`view_submission`): `view` as opened, `values` its state by block and action."""
        n = next(_ids)
        submitted = {**view, "state": {"values": values}, "hash": f"{n}.hash"}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": self.app_id,
            "token": "verification_token",
            "trigger_id": f"{n}.{int(time.time())}.view",
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
        }
        return self.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")

    def message(
        self,
        text: str,
        *,
        user: str = "W111",
        channel: str = "C111",
        ts: str | None = None,
        thread_ts: str | None = None,
        channel_type: str = "channel",
        event_id: str | None = None,
        subtype: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> SlackResponse:
        """A `message` event (DMs: channel_type "im"; thread replies: with thread_ts; `subtype` such as
        "thread_broadcast" or "file_share", with `files` as Slack's file objects)."""
        ts = ts or f"{time.time():.6f}"
        event = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            "channel_type": channel_type,
            "team": self.team_id,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        if subtype:
            event["subtype"] = subtype
        if files is not None:
            event["files"] = files
        return self.event(event, event_id=event_id)

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> SlackResponse:
        """POST a raw body, signed unless `signature` is given (tests use that to send bad ones)."""
        timestamp = timestamp or str(int(time.time()))
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature or sign(self.signing_secret, timestamp, body),
            **(headers or {}),
        }
        started = time.perf_counter()
        response = self.http.post(self.bot_url, content=body, headers=all_headers)
        return SlackResponse(
            response.status_code, response.text, response.headers, (time.perf_counter() - started) * 1000
        )
