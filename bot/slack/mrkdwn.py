"""Model output is Markdown; Slack renders its own `mrkdwn`. Convert the common constructs, leave code alone."""

from __future__ import annotations

import re

_FENCE = re.compile(r"(```.*?(?:```|$))", re.DOTALL)
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC_STAR = re.compile(r"(?<![\*\w])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\*\w])")
_STRIKE = re.compile(r"~~(.+?)~~")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^(\s*)[-*+]\s+", re.MULTILINE)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Markdown → Slack mrkdwn: bold, italics, strike, links, headings and bullets; code spans untouched."""
    out = []
    for block in _FENCE.split(markdown):
        if block.startswith("```"):
            out.append(_fence(block))
            continue
        for piece in _INLINE_CODE.split(block):
            out.append(
                piece if piece.startswith("`") and piece.endswith("`") and len(piece) > 1 else _convert_prose(piece)
            )
    return "".join(out)


def _fence(block: str) -> str:
    """Slack ignores the language tag after ```; drop it so it is not shown as code."""
    body = block[3:]
    first, sep, rest = body.partition("\n")
    if sep and first.strip() and " " not in first.strip():
        body = "\n" + rest
    return "```" + body


def _convert_prose(text: str) -> str:
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(f"<{match.group(2)}|{escape(match.group(1))}>")
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(keep_link, text)
    text = escape(text)
    text = _HEADING.sub(lambda m: f"**{m.group(1)}**", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)
