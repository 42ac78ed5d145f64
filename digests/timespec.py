"""Time words users type: digest windows (`24h`, `7d`, `2024-05-01`), clock times (`09:00`) and weekdays.

Every parse error is a `TimeSpecError` whose message can be shown to the user as is.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_WINDOW = timedelta(days=366)
_DURATION = re.compile(r"(\d+)\s*(m|min|mins|minutes?|h|hrs?|hours?|d|days?|w|weeks?)", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_CLOCK = re.compile(r"([01]?\d|2[0-3])[:.h]([0-5]\d)")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class TimeSpecError(ValueError):
    """A time the user typed could not be understood; the message says what is accepted."""


def zone(name: str | None) -> tzinfo:
    """The user's time zone from Slack's `tz` (an IANA name); UTC when unknown."""
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def parse_since(spec: str, *, now: datetime, tz: tzinfo = UTC) -> datetime:
    """The start of a window: `now` minus a duration (`30m`, `24h`, `7d`, `2w`) or a date/time in `tz`."""
    text = spec.strip()
    match = _DURATION.fullmatch(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)[0].lower()
        if amount <= 0:
            raise TimeSpecError(f"'{spec}' is an empty window. Use something like 24h or 7d.")
        delta = timedelta(**{_UNITS[unit]: amount})
        if delta > MAX_WINDOW:
            raise TimeSpecError(f"'{spec}' reaches back too far. The longest window is {MAX_WINDOW.days} days.")
        return now - delta
    start = _parse_date(text, tz)
    if start is None:
        raise TimeSpecError(
            f"I don't understand the time '{spec}'. Use a duration like 24h or 7d, or a date like 2024-05-01."
        )
    if start >= now:
        raise TimeSpecError(f"'{spec}' is in the future, so there is nothing to digest yet.")
    if now - start > MAX_WINDOW:
        raise TimeSpecError(f"'{spec}' reaches back too far. The longest window is {MAX_WINDOW.days} days.")
    return start


def _parse_date(text: str, tz: tzinfo) -> datetime | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=tz)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?", text):
            value = datetime.fromisoformat(text)
            return value.replace(tzinfo=tz)
    except ValueError:
        return None
    return None


def parse_clock(spec: str) -> time:
    """A time of day such as `09:00`, `9:30` or `17h15`."""
    match = _CLOCK.fullmatch(spec.strip())
    if not match:
        raise TimeSpecError(f"I don't understand the time of day '{spec}'. Use 24-hour time like 09:00 or 17:30.")
    return time(int(match.group(1)), int(match.group(2)))


def parse_weekday(spec: str) -> int | None:
    """Monday = 0 … Sunday = 6 for `mon`, `Monday`, `tue`…; None when `spec` is not a weekday."""
    word = spec.strip().lower()
    if len(word) < 3:
        return None
    for index, name in enumerate(WEEKDAYS):
        if name.startswith(word):
            return index
    return None


def window_label(spec: str) -> str:
    """Words for a window the user typed: "the last 24 hours", "the last 7 days", "since 2024-05-01"."""
    match = _DURATION.fullmatch(spec.strip())
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2)[0].lower()].rstrip("s")
        return f"the last {unit}" if amount == 1 else f"the last {amount} {unit}s"
    return f"since {spec.strip()}"
