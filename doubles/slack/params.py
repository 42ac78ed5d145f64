"""What every Web API method shares: the payload types, Slack's error, reading parameters, registering methods."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from ..http_server import Request

Params = dict[str, Any]
Payload = dict[str, Any]
Answer = tuple[int, Payload, dict[str, str]]  # HTTP status, JSON body, extra headers

JSON_PARAMS = frozenset({"blocks", "attachments", "view", "metadata", "chunks", "prompts", "loading_messages"})

F = TypeVar("F", bound=Callable[..., Payload])


class SlackError(Exception):
    """Raised by method implementations; becomes ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def web_api(*names: str) -> Callable[[F], F]:
    """Mark a server method as the implementation of the Web API methods `names` (``"chat.postMessage"``).

    It takes the call's parameters and returns the fields of an ``ok`` answer, or raises `SlackError`.
    `SlackServer` finds every marked method of its class when it starts.
    """

    def mark(function: F) -> F:
        function.web_api_names = (*getattr(function, "web_api_names", ()), *names)  # type: ignore[attr-defined]
        return function

    return mark


def parse_params(request: Request) -> Params:
    """Merge query string and body (JSON or form) params; decode JSON-valued fields."""
    params: Params = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = request.json() if request.body else {}
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        params.update(body)
    elif request.body:
        params.update(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    for name in JSON_PARAMS & params.keys():
        value = params[name]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


def required(params: Params, name: str, error: str = "invalid_arguments") -> str:
    """A required non-empty string parameter."""
    value = params.get(name)
    if value is None or value == "":
        raise SlackError(error)
    return str(value)


def int_param(params: Params, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError("invalid_arguments") from None


def flag(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


def ts_value(ts: Any, default: Decimal, error: str) -> Decimal:
    if ts in (None, ""):
        return default
    try:
        return Decimal(str(ts))
    except InvalidOperation:
        raise SlackError(error) from None
