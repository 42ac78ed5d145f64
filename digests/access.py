"""Who may have a conversation digested: only its members, for every kind of source.

A digest sends a conversation's content to the requester (or to the schedule's owner), so the requester must be a
member of it: a public or private channel, a group DM, or a DM (there: its other party, the bot being the first).
Checked after the ack for `/digest`, and again at every run of a schedule.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient


def is_member(client: WebClient, channel_id: str, user: str, info: dict[str, Any] | None = None) -> bool:
    """True if `user` is a member of the conversation (`info`: its `conversations.info`, if already read)."""
    if info is None:
        info = client.conversations_info(channel=channel_id)["channel"]
    if info.get("is_im"):
        return info.get("user") == user
    cursor = None
    while True:
        page = client.conversations_members(channel=channel_id, limit=1000, cursor=cursor)
        if user in page.get("members", []):
            return True
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return False


def not_a_member_reason(info: dict[str, Any], name: str) -> str:
    """Why the requester may not have this conversation digested, in their words."""
    if info.get("is_im") or info.get("is_mpim"):
        return "That is a direct message conversation you are not part of, so I can't digest it for you."
    if info.get("is_private"):
        return f"#{name} is private and you are not a member, so I can't digest it for you."
    return f"You are not a member of #{name}, so I can't digest it for you."
