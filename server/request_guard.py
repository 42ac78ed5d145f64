"""Shape checks on a Slack request before Bolt sees it, so malformed input gets a 4xx instead of a 500.

Bolt verifies signatures and parses bodies, but a non-numeric timestamp, an `event` that is not an object, or an
interactive payload with mistyped fields make it raise deep inside. These checks are cheap and only reject what
Slack itself never sends.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs


def problem(headers: dict[str, str], body: bytes) -> tuple[int, str] | None:
    """(HTTP status, reason) when the request cannot be a valid Slack request; None when Bolt may take it."""
    timestamp = headers.get("x-slack-request-timestamp", "")
    if not timestamp.isdigit() or len(timestamp) > 12:
        return 401, "missing or invalid X-Slack-Request-Timestamp"
    if not headers.get("x-slack-signature", "").startswith("v0="):
        return 401, "missing or invalid X-Slack-Signature"
    content_type = headers.get("content-type", "")
    try:
        if content_type.startswith("application/json"):
            return _json_problem(json.loads(body))
        if content_type.startswith("application/x-www-form-urlencoded"):
            if body.lstrip().startswith(b"{"):  # Bolt would parse it as JSON whatever the label says
                return 400, "a form body must not be JSON"
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            if "payload" in form:
                return _interactive_problem(json.loads(form["payload"][0]))
            return None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return 400, "the body is not valid JSON or form data"
    return 415, "Slack sends application/json or application/x-www-form-urlencoded"


def _json_problem(body: Any) -> tuple[int, str] | None:
    if not isinstance(body, dict):
        return 400, "the body must be a JSON object"
    if "event" in body and not isinstance(body["event"], dict):
        return 400, "event must be an object"
    if body.get("type") == "event_callback" and "event" not in body:
        return 400, "event_callback without an event"
    return None


def _interactive_problem(payload: Any) -> tuple[int, str] | None:
    if not isinstance(payload, dict):
        return 400, "payload must be a JSON object"
    actions = payload.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, dict) for a in actions)):
        return 400, "actions must be a list of objects"
    for key in ("view", "user", "team", "channel", "container", "message"):
        if key in payload and not isinstance(payload[key], dict):
            return 400, f"{key} must be an object"
    return None
