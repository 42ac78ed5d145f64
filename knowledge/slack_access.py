"""What Slack says about channels, for docs visibility: channel names to ids (at ingest), members (for DMs).

Membership is read with `conversations.members` (paged) and kept for `MEMBERS_TTL` seconds per process, so a DM
conversation asks Slack once per restricted channel a minute at most. A failed lookup is logged and counts as
"not a member": a restricted passage is never shown on a guess.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from knowledge.access import CHANNEL_ID, Audience

log = logging.getLogger(__name__)

MEMBERS_TTL = 60.0
_members: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}
_members_lock = threading.Lock()


class ChannelNotFound(Exception):
    """A channel given to `ingest --channel` does not exist (or the bot cannot see it)."""


def resolve_channels(client: Any | None, given: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Channel ids for names (`#hr`, `hr`) or ids (`C0123ABCD`), and the names to show, in the order given.

    Names are looked up with `conversations.list`; ids are taken as they are when Slack cannot be asked.
    """
    wanted = [g.strip() for g in given if g.strip()]
    needs_names = any(not CHANNEL_ID.match(g) for g in wanted)
    known: dict[str, str] = {}  # id -> name
    if client is not None:
        try:
            cursor = None
            while True:
                page = client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                )
                known.update({c["id"]: c.get("name", c["id"]) for c in page.get("channels", [])})
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as error:
            if needs_names:
                raise ChannelNotFound(
                    f"Cannot list the workspace's channels to find them by name "
                    f"({error.response.get('error')}): give channel ids (C…) instead."
                ) from None
    elif needs_names:
        raise ChannelNotFound(
            "Channel names need Slack to look them up (SLACK_BOT_TOKEN, or an installed "
            "workspace with --team): give channel ids (C…) instead."
        )
    by_name = {name.lower(): channel for channel, name in known.items()}
    ids, shown = [], []
    for item in wanted:
        if CHANNEL_ID.match(item):
            ids.append(item)
            shown.append(f"#{known[item]}" if item in known else item)
        elif item.lstrip("#").lower() in by_name:
            ids.append(by_name[item.lstrip("#").lower()])
            shown.append("#" + item.lstrip("#"))
        else:
            raise ChannelNotFound(
                f"No channel named #{item.lstrip('#')} is visible to the bot: check the name, or "
                "give the channel's id (C…, from the channel's details in Slack)."
            )
    return tuple(ids), tuple(shown)


def members(client: Any, team: str, channel: str) -> frozenset[str]:
    """The channel's members, from Slack or from the last minute's answer."""
    key = (team, channel)
    now = time.monotonic()
    with _members_lock:
        cached = _members.get(key)
        if cached and now - cached[0] < MEMBERS_TTL:
            return cached[1]
    people: set[str] = set()
    cursor = None
    try:
        while True:
            page = client.conversations_members(channel=channel, limit=200, cursor=cursor)
            people.update(page.get("members", []))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
    except SlackApiError as error:
        log.warning(
            "docs access: cannot read the members of %s (%s); its documents stay hidden in DMs",
            channel,
            error.response.get("error"),
        )
        return frozenset()
    answer = frozenset(people)
    with _members_lock:
        _members[key] = (now, answer)
    return answer


def membership(client: Any, team: str) -> Callable[[str, str], bool]:
    return lambda channel, user: user in members(client, team, channel)


def audience_for(client: Any, *, team: str, channel: str, user: str, direct: bool, oauth: bool) -> Audience:
    """Who is asking, for a message the bot answers: in a channel (and its threads) or in a DM.

    Under OAuth installs documents belong to one workspace (`team`); a one-workspace install has one set.
    """
    workspace = team if oauth else None
    if direct:
        return Audience.in_dm(channel, user, team=workspace, member=membership(client, team))
    return Audience.in_channel(channel, user, team=workspace)
