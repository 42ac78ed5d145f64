"""Model output is Markdown; Slack renders its own `mrkdwn`. Convert the common constructs, leave code alone.

Model output is untrusted: whatever it writes, the result never holds Slack's control syntax except the links made
here. `&`, `<` and `>` are escaped everywhere (code included: Slack shows `&lt;` in code as `<`), so the model can
never produce `<!channel>`, `<!here>`, `<!subteam^…>` or `<@U…>`; a link's address is percent-encoded where it
would end the link (`|`, `<`, `>`) and its label is one escaped line.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"(```.*?(?:```|$))", re.DOTALL)
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC_STAR = re.compile(r"(?<![\*\w])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\*\w])")
_STRIKE = re.compile(r"~~(.+?)~~")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)  # within one line: a lone "-" is not a bullet
_PLACEHOLDER = "\x00"
_URL_UNSAFE = {"|": "%7C", "<": "%3C", ">": "%3E"}
MAX_LABEL = 300
MAX_URL = 1_000


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ANGLE_OPENER = re.compile(r"<(?=[!@#]|$)")
_INERT = "<\u200b"  # a zero-width space after "<": shown the same, never parsed as Slack's <...> syntax


def inert_markdown(markdown: str) -> str:
    """Markdown for a `markdown` block or stream chunk, where Slack's own `<!channel>`, `<@U…>` and `<#C…>` syntax
    must not come from the model: such an opener (or a "<" that ends a piece, which the next piece could complete)
    gets a zero-width space. Links stay as Markdown links (`[label](url)`), which need no angle brackets."""
    return _ANGLE_OPENER.sub(_INERT, markdown)


def to_mrkdwn(markdown: str) -> str:
    """Markdown → Slack mrkdwn: bold, italics, strike, links, headings and bullets; code spans kept as written."""
    out = []
    for block in _FENCE.split(markdown.replace(_PLACEHOLDER, "")):
        if block.startswith("```"):
            out.append(escape(_fence(block)))
            continue
        for piece in _INLINE_CODE.split(block):
            is_code = piece.startswith("`") and piece.endswith("`") and len(piece) > 1
            out.append(escape(piece) if is_code else _convert_prose(piece))
    return "".join(out)


def _fence(block: str) -> str:
    """Slack ignores the language tag after ```; drop it so it is not shown as code."""
    body = block[3:]
    first, sep, rest = body.partition("\n")
    if sep and first.strip() and " " not in first.strip():
        body = "\n" + rest
    return "```" + body


def link(url: str, label: str) -> str:
    """`<url|label>` that stays one link whatever the two hold (or the escaped label alone if the URL is too long)."""
    label = " ".join(label.split())[:MAX_LABEL] or url
    safe_url = "".join(_URL_UNSAFE.get(char, char) for char in url).replace("&", "&amp;")
    if len(safe_url) > MAX_URL:
        return escape(label)
    return f"<{safe_url}|{escape(label)}>"


def safe_cut(text: str, cut: int) -> int:
    """Move a cut point back so it does not fall inside a `<link|label>` or an `&entity;` of converted text."""
    opening = text.rfind("<", 0, cut)
    if opening > text.rfind(">", 0, cut):
        cut = opening
    ampersand = text.rfind("&", max(0, cut - 5), cut)
    if ampersand >= 0 and ";" not in text[ampersand:cut]:
        cut = ampersand
    return cut


def _convert_prose(text: str) -> str:
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(link(match.group(2), match.group(1)))
        return f"{_PLACEHOLDER}{len(links) - 1}{_PLACEHOLDER}"

    text = _LINK.sub(keep_link, text)
    text = escape(text)
    text = _HEADING.sub(lambda m: f"**{m.group(1)}**", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    return re.sub(f"{_PLACEHOLDER}(\\d+){_PLACEHOLDER}", lambda m: links[int(m.group(1))], text)
