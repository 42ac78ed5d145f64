"""The workspace as the browser shows it: a snapshot of rendered items, and the changes between two snapshots.

A snapshot is plain data (conversations, one rendered HTML item per message, the Home tab), built from the
local Slack server's state plus the relay's "only visible to you" notes. The page receives a full snapshot
when it connects and then only the items that changed, so a streaming answer re-renders one message, not the
page.
"""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from doubles.slack import SlackServer
from playground.agent_surface import plan_html, shortcut_button, surface_items
from playground.modal import modal_html
from playground.mrkdwn_html import blocks_to_html, mrkdwn_to_html
from playground.relay import Relay

Payload = dict[str, Any]


@dataclass(frozen=True)
class Item:
    """One message (or ephemeral) as rendered HTML, with where it goes: a conversation, maybe a thread."""

    key: str
    channel: str
    thread: str | None  # the parent's ts for thread replies
    sort: str
    html: str


@dataclass
class Snapshot:
    engine: str
    me: str
    conversations: list[Payload]
    items: dict[str, Item] = field(default_factory=dict)
    home: str = ""
    jobs: str = ""  # which job queue digests use
    modal: str = ""  # the open modal (views.open), if any

    def as_json(self) -> Payload:
        return {
            "engine": self.engine,
            "jobs": self.jobs,
            "me": self.me,
            "conversations": self.conversations,
            "items": [asdict(item) for item in self.items.values()],
            "home": self.home,
            "modal": self.modal,
        }


def snapshot(slack: SlackServer, relay: Relay, engine: str, jobs: str = "") -> Snapshot:
    """Everything the person can see now."""
    names = _Names(slack)
    me = relay.person.user_id
    conversations: list[Payload] = []
    items: dict[str, Item] = {}
    for channel_id, conversation in list(slack.channels.items()):
        info = conversation.info
        if info.get("is_im") and info.get("user") != me:
            continue
        if not info.get("is_im") and me not in conversation.members:
            continue
        conversations.append(
            {
                "id": channel_id,
                "is_im": bool(info.get("is_im")),
                "name": names.user(slack.bot_user_id) if info.get("is_im") else info.get("name", ""),
                "topic": (info.get("topic") or {}).get("value", ""),
            }
        )
        for message in slack.messages(channel_id):
            _add(items, _message_item(slack, names, channel_id, message, None))
            if message.get("reply_count"):
                for reply in slack.replies(channel_id, message["ts"])[1:]:
                    _add(items, _message_item(slack, names, channel_id, reply, message["ts"]))
    for index, ephemeral in enumerate(list(slack.ephemerals)):
        if ephemeral.get("user") == me:
            _add(
                items,
                _ephemeral_item(
                    names,
                    f"e{index}",
                    ephemeral["channel"],
                    ephemeral.get("thread_ts"),
                    ephemeral["ts"],
                    ephemeral.get("text", ""),
                    ephemeral.get("blocks"),
                ),
            )
    for index, response in enumerate(list(slack.responses)):
        target = relay.targets.get(str(response.get("name", "")))
        if target is not None:
            shown_to_all = response.get("response_type") == "in_channel"
            _add(
                items,
                _ephemeral_item(
                    names,
                    f"r{index}",
                    target.channel,
                    target.thread_ts,
                    _after(target.sort, index),
                    str(response.get("text", "")),
                    response.get("blocks"),
                    only_you=not shown_to_all,
                ),
            )
    for index, note in enumerate(list(relay.notes)):
        _add(
            items, _ephemeral_item(names, f"n{index}", note.channel, note.thread_ts, note.sort, note.text, note.blocks)
        )
    visible = {c["id"] for c in conversations}
    for key, channel, thread, sort, item_html in surface_items(slack, visible, names.user(slack.bot_user_id)):
        _add(items, Item(key=key, channel=channel, thread=thread, sort=sort, html=item_html))
    view = slack.views.get(me)
    home = _home_html(view, names) if view else ""
    opened = relay.open_modal()
    channels = [(c["id"], "#" + str(c["name"])) for c in conversations if not c["is_im"]]
    modal = modal_html(opened, channels, names.user) if opened else ""
    return Snapshot(
        engine=engine, me=names.user(me), conversations=conversations, items=items, home=home, jobs=jobs, modal=modal
    )


def changes(before: Snapshot | None, after: Snapshot) -> Payload:
    """What the page must apply to go from `before` to `after` (empty when nothing it shows changed)."""
    if before is None:
        return {"reset": after.as_json()}
    patch: Payload = {}
    upserts = [asdict(item) for key, item in after.items.items() if before.items.get(key) != item]
    removed = [key for key in before.items if key not in after.items]
    if upserts:
        patch["upsert"] = upserts
    if removed:
        patch["remove"] = removed
    if before.conversations != after.conversations:
        patch["conversations"] = after.conversations
    if before.home != after.home:
        patch["home"] = after.home
    if before.engine != after.engine:
        patch["engine"] = after.engine
    if before.jobs != after.jobs:
        patch["jobs"] = after.jobs
    if before.modal != after.modal:
        patch["modal"] = after.modal
    return patch


# -- rendering ----------------------------------------------------------------------------------------------


class _Names:
    def __init__(self, slack: SlackServer) -> None:
        self.users = {uid: dict(u) for uid, u in list(slack.users.items())}
        self.channels = {cid: c.info.get("name", cid) for cid, c in list(slack.channels.items())}
        self.bot = slack.bot_user_id

    def user(self, user_id: str) -> str:
        user = self.users.get(user_id)
        if not user:
            return user_id
        return str(user.get("real_name") or user.get("name") or user_id)

    def channel(self, channel_id: str) -> str:
        return str(self.channels.get(channel_id, channel_id))


def _add(items: dict[str, Item], item: Item) -> None:
    items[item.key] = item


def _after(sort: str, index: int) -> str:
    return str(Decimal(sort) + Decimal(index) / Decimal(1_000_000))


def _time(ts: str) -> tuple[str, str]:
    moment = datetime.fromtimestamp(float(ts))
    return moment.strftime("%H:%M"), moment.isoformat(timespec="seconds")


def _button_label(element: dict[str, Any]) -> str:
    """The button's text; an emoji-only text (👍) shows its accessibility label instead, since a machine
    without an emoji font draws emoji as empty boxes."""
    text = str((element.get("text") or {}).get("text", "Button"))
    spoken = str(element.get("accessibility_label") or "").strip()
    emoji_only = not any(ch.isalnum() or ch.isspace() for ch in text) and any(ord(ch) > 0x2000 for ch in text)
    return spoken if emoji_only and spoken else text


def _button_renderer(channel: str, ts: str):  # type: ignore[no-untyped-def]
    def button(element: dict[str, Any], index: int) -> str:
        label = html.escape(_button_label(element))
        style = str(element.get("style") or "")
        attributes = {
            "data-channel": channel,
            "data-ts": ts,
            "data-action-id": str(element.get("action_id", "")),
            "data-value": str(element.get("value", "")),
            "data-block-id": str(element.get("block_id", "")),
            "data-label": str((element.get("text") or {}).get("text", "")),
            "data-focus-key": f"{channel}:{ts}:{element.get('action_id', '')}:{element.get('value', '')}",
        }
        rendered = " ".join(f'{name}="{html.escape(value, quote=True)}"' for name, value in attributes.items())
        css = f"action {html.escape(style)}".strip()
        return f'<button type="button" class="{css}" {rendered}>{label}</button>'

    return button


def _body(text: str, blocks: Any, attachments: Any, names: _Names, channel: str, ts: str) -> str:
    button = _button_renderer(channel, ts)
    if isinstance(blocks, list) and blocks:
        body = blocks_to_html(blocks, button, names.user, names.channel)
    else:
        body = f'<div class="block section">{mrkdwn_to_html(text, names.user, names.channel)}</div>'
    for attachment in attachments if isinstance(attachments, list) else []:
        if not isinstance(attachment, dict):
            continue
        inner = blocks_to_html(attachment.get("blocks") or [], button, names.user, names.channel)
        if not inner and attachment.get("text"):
            inner = mrkdwn_to_html(str(attachment["text"]), names.user, names.channel)
        if inner:
            body += f'<div class="attachment">{inner}</div>'
    return body


def _has_text_block(blocks: Any) -> bool:
    """Whether the blocks carry the message's text (an edit replaced the streamed text with them)."""
    kinds = {"markdown", "section", "rich_text", "header"}
    return isinstance(blocks, list) and any(isinstance(b, dict) and b.get("type") in kinds for b in blocks)


def _message_item(slack: SlackServer, names: _Names, channel: str, message: Payload, thread: str | None) -> Item:
    ts = str(message["ts"])
    user = str(message.get("user") or "")
    is_bot = bool(message.get("bot_id")) or user == slack.bot_user_id
    author = names.user(user) if user else str((message.get("bot_profile") or {}).get("name", "bot"))
    shown, iso = _time(ts)
    edited = len(slack.edits(channel, ts)) > 1
    streaming = slack.stream_state(channel, ts) == "streaming"
    header = (
        f'<span class="author">{html.escape(author)}</span>'
        + ('<span class="badge">App</span>' if is_bot else "")
        + f' <time datetime="{iso}">{shown}</time>'
        + (' <span class="edited">(edited)</span>' if edited else "")
        + (' <span class="edited">(writing…)</span>' if streaming else "")
    )
    text, blocks = str(message.get("text") or ""), message.get("blocks")
    if slack.stream_state(channel, ts) is not None and text and not _has_text_block(blocks):
        # A streamed message shows its markdown text, then the blocks stopStream added (feedback buttons).
        blocks = [{"type": "markdown", "text": text}, *(blocks or [])]
    body = plan_html(message) + _body(text, blocks, message.get("attachments"), names, channel, ts)
    footer = ""
    count = int(message.get("reply_count") or 0)
    if count and thread is None and not is_bot:
        footer += shortcut_button(channel, ts)
    if not is_bot:
        footer += shortcut_button(channel, ts, "ask_about_message")
    if count and thread is None:
        word = "reply" if count == 1 else "replies"
        footer += (
            f'<button type="button" class="replies" data-open-thread="{html.escape(ts)}" '
            f'data-channel="{html.escape(channel)}" data-focus-key="thread:{html.escape(ts)}">'
            f"{count} {word}</button>"
        )
    css = "msg bot" if is_bot else "msg"
    item_html = (
        f'<article class="{css}" data-key="m:{channel}:{ts}" aria-label="{html.escape(author)} at {shown}">'
        f'<div class="meta">{header}</div><div class="body">{body}</div>{footer}</article>'
    )
    return Item(key=f"m:{channel}:{ts}", channel=channel, thread=thread, sort=ts, html=item_html)


def _ephemeral_item(
    names: _Names,
    key: str,
    channel: str,
    thread: str | None,
    sort: str,
    text: str,
    blocks: Any,
    *,
    only_you: bool = True,
) -> Item:
    shown, iso = _time(sort)
    body = _body(text, blocks, None, names, channel, sort)
    label = '<span class="only-you">Only visible to you</span>' if only_you else ""
    css = "msg bot ephemeral" if only_you else "msg bot"
    author = names.user(names.bot)
    item_html = (
        f'<article class="{css}" data-key="{key}" aria-label="{html.escape(author)} at {shown}">'
        f'<div class="meta"><span class="author">{html.escape(author)}</span>'
        f'<span class="badge">App</span> <time datetime="{iso}">{shown}</time> {label}</div>'
        f'<div class="body">{body}</div></article>'
    )
    return Item(key=key, channel=channel, thread=thread, sort=sort, html=item_html)


def _home_html(view: Payload, names: _Names) -> str:
    return blocks_to_html(view.get("blocks") or [], _button_renderer("", "home"), names.user, names.channel)
