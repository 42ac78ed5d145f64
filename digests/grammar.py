"""The `/digest` grammar: what a user may type after `/digest`, parsed into one of three actions.

/digest                                   this channel, the last 24 hours
/digest #a #b since 7d | since 2024-05-01 several channels (one job each), any window; `dm` sends it to you
/digest status | cancel <id>
/digest daily #channel 09:00 | weekly #channel mon 09:00 | schedules | unschedule <id>
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time, timedelta, timezone

from digests.timespec import parse_clock, parse_weekday

DEFAULT_WINDOW = "24h"
MAX_CHANNELS = 10
USAGE = (
    "*/digest* makes a digest of a channel: topics, decisions, open questions and who is waiting on whom, "
    "with links to the key messages.\n"
    "• `/digest`: this channel, the last 24 hours\n"
    "• `/digest #design #eng since 7d` (or `since 2024-05-01`); add `dm` to get it by direct message\n"
    "• `/digest status`, `/digest cancel <id>`\n"
    "• `/digest daily #channel 09:00`, `/digest weekly #channel mon 09:00`, `/digest schedules`, "
    "`/digest unschedule <id>`"
)
NEEDS_REDIS = (
    "Digests run as background jobs, and this bot has no job queue configured (an admin needs to set "
    "REDIS_URL and run `python app.py worker`)."
)
EARLIEST_ZONE = timezone(timedelta(hours=14))  # a date begins here first: not "in the future" in any zone
CHANNEL_REF = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|([^>]*))?>$|^#([a-z0-9][a-z0-9._-]*)$|^([CGD][A-Z0-9]{6,})$")
_DURATION_WORD = re.compile(r"^\d+$")


class CommandError(Exception):
    """Bad input; the message is the ephemeral reply."""

    def __init__(self, message: str, kind: str = "bad_input") -> None:
        super().__init__(message)
        self.kind = kind


# Parsing ---------------------------------------------------------------------------------------------------


@dataclass
class DigestNow:
    channels: list[str] = field(default_factory=list)  # raw references; empty: the current channel
    since: str = DEFAULT_WINDOW
    to_dm: bool = False


@dataclass
class Schedule:
    frequency: str
    channel: str | None
    weekday: int | None
    clock: time
    to_dm: bool


@dataclass
class Simple:
    action: str  # help | status | schedules | cancel | unschedule
    argument: str = ""


Command = DigestNow | Schedule | Simple


def parse(text: str) -> Command:
    """The command's words as an action; raises `CommandError` with what was not understood."""
    words = text.split()
    if not words:
        return DigestNow()
    head = words[0].lower()
    if head in ("help", "status", "schedules", "list"):
        return Simple("schedules" if head == "list" else head)
    if head in ("cancel", "unschedule", "remove"):
        if len(words) != 2:
            raise CommandError(
                f"Say which one: `/digest {head} <id>` (see `/digest "
                f"{'status' if head == 'cancel' else 'schedules'}` for the ids)."
            )
        return Simple("cancel" if head == "cancel" else "unschedule", words[1].strip("`"))
    if head in ("daily", "weekly"):
        return _parse_schedule(head, words[1:])
    return _parse_now(words)


def _parse_now(words: list[str]) -> DigestNow:
    command = DigestNow()
    i = 0
    while i < len(words):
        word, lower = words[i], words[i].lower()
        if lower == "since":
            if i + 1 >= len(words):
                raise CommandError("`since` needs a time: `since 24h`, `since 7d` or `since 2024-05-01`.")
            spec = words[i + 1]
            if _DURATION_WORD.match(spec) and i + 2 < len(words):  # "since 3 days"
                spec, i = spec + words[i + 2], i + 1
            command.since, i = spec, i + 2
            continue
        if lower in ("dm", "me") or (lower == "to" and i + 1 < len(words) and words[i + 1].lower() == "me"):
            command.to_dm = True
            i += 2 if lower == "to" else 1
            continue
        if CHANNEL_REF.match(word):
            command.channels.append(word)
        elif re.fullmatch(r"\d+\s*[mhdw]|\d{4}-\d{2}-\d{2}", lower):
            command.since = word
        else:
            raise CommandError(f"I don't understand `{word}`.\n{USAGE}")
        i += 1
    command.channels = list(dict.fromkeys(command.channels))
    if len(command.channels) > MAX_CHANNELS:
        raise CommandError(f"That is {len(command.channels)} channels; I take at most {MAX_CHANNELS} at a time.")
    return command


def _parse_schedule(frequency: str, words: list[str]) -> Schedule:
    channel, weekday, at, to_dm = None, None, None, False
    for word in words:
        lower = word.lower()
        if CHANNEL_REF.match(word):
            if channel is not None:
                raise CommandError("A schedule covers one channel; set one up per channel.")
            channel = word
        elif lower in ("dm", "me"):
            to_dm = True
        elif lower in ("at", "on", "to"):
            continue
        elif re.fullmatch(r"\d{1,2}[:.h]\d{2}", lower):
            at = parse_clock(word)
        elif frequency == "weekly" and (day := parse_weekday(lower)) is not None:
            weekday = day
        else:
            raise CommandError(
                f"I don't understand `{word}`. Try `/digest {frequency} #channel "
                f"{'mon ' if frequency == 'weekly' else ''}09:00`."
            )
    return Schedule(
        frequency=frequency,
        channel=channel,
        weekday=weekday if frequency == "weekly" else None,
        clock=at or time(9, 0),
        to_dm=to_dm,
    )


def linked(ref: str) -> str:
    """A channel reference as the user gave it, in a form Slack shows as a channel: `<#C123>` or `#name`."""
    match = CHANNEL_REF.match(ref)
    if not match:
        return ref
    channel_id, _, name, raw_id = match.groups()
    return f"#{name}" if name else f"<#{channel_id or raw_id}>"


def shown(ref: str) -> str:
    match = CHANNEL_REF.match(ref)
    if match and match.group(2):
        return f"#{match.group(2)}"
    return f"<#{match.group(1)}>" if match and match.group(1) else ref
