"""Slack mrkdwn and Block Kit to safe HTML, the way the Slack client shows them (for the browser playground).

Everything the bot wrote is escaped first; only the markup produced here reaches the page, so a message can
never inject HTML or script. Links are limited to http(s) and mailto.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from bot.slack.mrkdwn import to_mrkdwn

Lookup = Callable[[str], str]  # an id (user or channel) -> a display name

EMOJI = {
    "warning": "⚠️",
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "thumbsup": "👍",
    "+1": "👍",
    "thumbsdown": "👎",
    "-1": "👎",
    "mag": "🔍",
    "books": "📚",
    "page_facing_up": "📄",
    "memo": "📝",
    "robot_face": "🤖",
    "sparkles": "✨",
    "information_source": "ℹ️",
    "bulb": "💡",
    "calendar": "📅",
    "gear": "⚙️",
    "stopwatch": "⏱️",
    "octagonal_sign": "🛑",
    "no_entry": "⛔",
    "rocket": "🚀",
    "tada": "🎉",
    "wave": "👋",
    "eyes": "👀",
    "question": "❓",
    "exclamation": "❗",
    "link": "🔗",
    "chart_with_upwards_trend": "📈",
    "bar_chart": "📊",
    "arrow_right": "➡️",
    "hammer_and_wrench": "🛠️",
    "speech_balloon": "💬",
    "clipboard": "📋",
}

_FENCE = re.compile(r"```(.*?)```", re.S)
# Slack's control syntax is written with real angle brackets; an escaped `&lt;!channel&gt;` is only text. The real
# ones become these private-use characters before the entities are undone, so the two never mix.
OPEN, CLOSE = "\ue000", "\ue001"
_ANGLE = re.compile(f"{OPEN}([^\\s{OPEN}{CLOSE}][^{OPEN}{CLOSE}]*?){CLOSE}")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
_SAFE_URL = re.compile(r"^(https?://|mailto:)", re.I)


def _no_name(identifier: str) -> str:
    return identifier


def mrkdwn_to_html(text: str, users: Lookup = _no_name, channels: Lookup = _no_name) -> str:
    """Render Slack mrkdwn: *bold*, _italic_, ~strike~, `code`, ``` blocks, > quotes, <links|label>, mentions."""
    # Slack escapes &, < and > in message text; undo that once, then escape everything for HTML.
    marked = text.replace(OPEN, "").replace(CLOSE, "").replace("<", OPEN).replace(">", CLOSE)
    raw = marked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    parts: list[str] = []
    position = 0
    for match in _FENCE.finditer(raw):
        parts.append(_inline_block(raw[position : match.start()], users, channels))
        code = match.group(1).strip("\n").replace(OPEN, "<").replace(CLOSE, ">")
        parts.append(f"<pre><code>{html.escape(code, quote=False)}</code></pre>")
        position = match.end()
    parts.append(_inline_block(raw[position:], users, channels))
    return "".join(parts).replace(OPEN, "&lt;").replace(CLOSE, "&gt;")  # brackets that were not syntax


def _inline_block(text: str, users: Lookup, channels: Lookup) -> str:
    """Lines outside code blocks: quotes become <blockquote>, the rest keeps its line breaks."""
    if not text:
        return ""
    out: list[str] = []
    quote: list[str] = []
    lines: list[str] = []

    def flush_lines() -> None:
        if lines:
            out.append("<br>".join(lines))
            lines.clear()

    for line in text.split("\n"):
        if line.startswith((">", CLOSE)):  # `&gt; ` as Slack returns it, or a raw `> `
            flush_lines()
            quote.append(_inline(line[1:].removeprefix(" "), users, channels))
            continue
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote.clear()
        lines.append(_inline(line, users, channels))
    flush_lines()
    if quote:
        out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
    return "".join(out)


def _inline(line: str, users: Lookup, channels: Lookup) -> str:
    escaped = html.escape(line, quote=True)
    stash: list[str] = []

    def keep(fragment: str) -> str:
        stash.append(fragment)
        return f"\x00{len(stash) - 1}\x00"

    escaped = _INLINE_CODE.sub(lambda m: keep(f"<code>{m.group(1)}</code>"), escaped)
    escaped = _ANGLE.sub(lambda m: keep(_angle(html.unescape(m.group(1)), users, channels)), escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    escaped = _ITALIC.sub(r"<em>\1</em>", escaped)
    escaped = _STRIKE.sub(r"<del>\1</del>", escaped)
    escaped = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), escaped)
    return re.sub(r"\x00(\d+)\x00", lambda m: stash[int(m.group(1))], escaped)


def _angle(inner: str, users: Lookup, channels: Lookup) -> str:
    """`<@U1>`, `<#C1|name>`, `<!here>`, `<url|label>`."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        name = label or users(target[1:])
        return f'<span class="mention">@{html.escape(name)}</span>'
    if target.startswith("#"):
        name = label or channels(target[1:])
        return f'<span class="mention">#{html.escape(name)}</span>'
    if target.startswith("!"):
        word = label or target[1:].split("^")[0]
        return f'<span class="mention">@{html.escape(word)}</span>'
    shown = html.escape(label or target)
    if not _SAFE_URL.match(target):
        return shown
    return f'<a href="{html.escape(target, quote=True)}" target="_blank" rel="noopener noreferrer">{shown}</a>'


# -- Block Kit ----------------------------------------------------------------------------------------------


def text_object_html(obj: Any, users: Lookup = _no_name, channels: Lookup = _no_name) -> str:
    """A Block Kit text object (mrkdwn or plain_text)."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_html(text, users, channels)
    return html.escape(text).replace("\n", "<br>")


def blocks_to_html(
    blocks: list[Any],
    button: Callable[[dict[str, Any], int], str],
    users: Lookup = _no_name,
    channels: Lookup = _no_name,
) -> str:
    """Render the blocks Slack shows in messages and Home tabs; `button(element, index)` renders a button."""
    out: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "section":
            body = text_object_html(block.get("text"), users, channels)
            fields = "".join(
                f'<div class="field">{text_object_html(f, users, channels)}</div>' for f in block.get("fields") or []
            )
            if fields:
                body += f'<div class="fields">{fields}</div>'
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                body += button(accessory, len(out))
            out.append(f'<div class="block section">{body}</div>')
        elif kind == "header":
            out.append(f'<h3 class="block header">{text_object_html(block.get("text"))}</h3>')
        elif kind == "divider":
            out.append('<hr class="block divider">')
        elif kind == "context":
            items = "".join(
                f"<span>{text_object_html(e, users, channels)}</span>"
                for e in block.get("elements") or []
                if isinstance(e, dict) and "text" in e
            )
            out.append(f'<div class="block context">{items}</div>')
        elif kind == "actions":
            buttons = "".join(
                button(e, i)
                for i, e in enumerate(block.get("elements") or [])
                if isinstance(e, dict) and e.get("type") == "button"
            )
            out.append(f'<div class="block actions">{buttons}</div>')
        elif kind == "context_actions":  # Slack's feedback buttons: one button each for 👍 and 👎
            buttons = "".join(
                button({**side, "type": "button", "action_id": e.get("action_id", "")}, i)
                for i, e in enumerate(block.get("elements") or [])
                if isinstance(e, dict) and e.get("type") == "feedback_buttons"
                for side in (e.get("positive_button"), e.get("negative_button"))
                if isinstance(side, dict)
            )
            out.append(f'<div class="block actions feedback">{buttons}</div>')
        elif kind == "rich_text":
            out.append(f'<div class="block section">{html.escape(_rich_text_plain(block))}</div>')
        elif kind == "markdown":  # standard Markdown: shown as Slack shows it, through the same rendering as mrkdwn
            shown = mrkdwn_to_html(to_mrkdwn(str(block.get("text", ""))), users, channels)
            out.append(f'<div class="block section markdown">{shown}</div>')
    return "".join(out)


def _rich_text_plain(block: dict[str, Any]) -> str:
    def walk(node: Any) -> str:
        if isinstance(node, dict):
            if "text" in node and isinstance(node["text"], str):
                return node["text"]
            return "".join(walk(e) for e in node.get("elements") or [])
        return ""

    return walk(block)
