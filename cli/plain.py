"""Answers as plain text for a terminal: the Markdown (or Slack mrkdwn) emphasis, headings and link syntax that
Slack would render are taken out, so `**Sources**` reads as "Sources"."""

from __future__ import annotations

import re

_BOLD = re.compile(r"\*\*(.+?)\*\*|(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]+)>")
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_ITALIC_LINE = re.compile(r"^_(?!\s)(.+)(?<!\s)_$", re.MULTILINE)  # a whole line in italics, code spans and all


def plain_text(text: str) -> str:
    """The text without Markdown emphasis and link syntax; code (between backticks) is left as written."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", _ITALIC_LINE.sub(r"\1", text), flags=re.DOTALL)
    for i in range(0, len(parts), 2):  # even parts are outside code
        part = _HEADING.sub("", parts[i])
        part = _MARKDOWN_LINK.sub(
            lambda m: m.group(1) if m.group(1) == m.group(2) else f"{m.group(1)} ({m.group(2)})", part
        )
        part = _SLACK_LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", part)
        part = _BOLD.sub(lambda m: m.group(1) or m.group(2), part)
        parts[i] = _ITALIC.sub(lambda m: m.group(1), part)
    return "".join(parts)


class PlainLines:
    """Prints a streamed answer as plain text, line by line as each line completes (code blocks as written)."""

    def __init__(self) -> None:
        self._pending = ""
        self._in_code = False

    def write(self, delta: str) -> None:
        self._pending += delta
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            print(self._line(line), flush=True)

    def close(self) -> None:
        if self._pending:
            print(self._line(self._pending), flush=True)
        self._pending = ""

    def _line(self, line: str) -> str:
        if line.lstrip().startswith("```"):
            self._in_code = not self._in_code
            return line
        return line if self._in_code else plain_text(line)
