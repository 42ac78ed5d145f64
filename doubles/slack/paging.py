"""Cursor paging as Slack does it (opaque base64 cursors, ``has_more``), and the ``oldest``/``latest`` window."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal
from typing import Any

from .params import Params, Payload, SlackError, flag, int_param, ts_value


def encode_cursor(key: str) -> str:
    return base64.b64encode(f"next:{key}".encode()).decode()


def decode_cursor(cursor: Any) -> str | None:
    if not cursor:
        return None
    try:
        prefix, _, key = base64.b64decode(str(cursor), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    if prefix != "next" or not key:
        raise SlackError("invalid_cursor")
    return key


def _page(items: list[Any], start: int, limit: int) -> tuple[list[Any], bool]:
    page = items[start : start + max(limit, 1)]
    return page, start + len(page) < len(items)


def ts_page(
    messages: list[Payload], params: Params, default_limit: int, newest_first: bool
) -> tuple[list[Payload], bool, str]:
    """Pagination keyed by ts: the cursor names the first message of the next page."""
    cursor = decode_cursor(params.get("cursor"))
    start = 0
    if cursor:
        bound = ts_value(cursor, Decimal(0), "invalid_cursor")
        reached = (lambda ts: ts <= bound) if newest_first else (lambda ts: ts >= bound)
        start = next((i for i, m in enumerate(messages) if reached(Decimal(m["ts"]))), len(messages))
    page, has_more = _page(messages, start, int_param(params, "limit", default_limit) or default_limit)
    return page, has_more, encode_cursor(messages[start + len(page)]["ts"]) if has_more else ""


def offset_page(items: list[Any], params: Params, default_limit: int) -> tuple[list[Any], Payload]:
    """Offset-cursor pagination for lists (users, channels, members)."""
    cursor = decode_cursor(params.get("cursor"))
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page, has_more = _page(items, start, int_param(params, "limit", default_limit) or default_limit)
    next_cursor = encode_cursor(str(start + len(page))) if has_more else ""
    return page, {"next_cursor": next_cursor}


def time_filter(messages: list[Payload], params: Params) -> list[Payload]:
    """Keep messages between ``oldest`` and ``latest`` (bounds included when ``inclusive``)."""
    oldest = ts_value(params.get("oldest"), Decimal(0), "invalid_ts_oldest")
    latest = ts_value(params.get("latest"), Decimal("Infinity"), "invalid_ts_latest")
    if flag(params, "inclusive"):
        return [m for m in messages if oldest <= Decimal(m["ts"]) <= latest]
    return [m for m in messages if oldest < Decimal(m["ts"]) < latest]
