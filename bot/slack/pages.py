"""Split a long mrkdwn answer into Slack-sized messages at safe boundaries (never inside a code block)."""

from __future__ import annotations

from bot.slack.mrkdwn import safe_cut

FENCE = "```"


def paginate(text: str, limit: int = 2_900) -> list[str]:
    """Greedy, line by line: a page ends before the line that would not fit.

    A code block that must be split is closed at the end of one page and reopened at the start of the next, so
    every page renders on its own. The split points depend only on the text before them, so pages already sent
    stay as they are while a streamed answer keeps growing.
    """
    pages: list[str] = []
    current: list[str] = []
    size = 0
    in_code = False
    for line in _fitting_lines(text, limit - len(FENCE) * 2 - 2):
        extra = len(FENCE) + 1 if in_code else 0  # room to close an open code block
        if current and size + len(line) + 1 + extra > limit:
            pages.append("\n".join(current + ([FENCE] if in_code else [])))
            current, size = ([FENCE] if in_code else []), (len(FENCE) + 1 if in_code else 0)
        current.append(line)
        size += len(line) + 1
        if line.lstrip().startswith(FENCE):
            in_code = not in_code if line.strip().count(FENCE) == 1 else in_code
    if current:
        pages.append("\n".join(current))
    return pages or [""]


def _fitting_lines(text: str, width: int) -> list[str]:
    """Lines no longer than `width`, breaking an overlong line at spaces (or anywhere, as a last resort)."""
    out: list[str] = []
    for line in text.split("\n"):
        while len(line) > width:
            cut = line.rfind(" ", 0, width)
            cut = cut if cut > width // 2 else width
            cut = safe_cut(line, cut) or cut
            out.append(line[:cut])
            line = line[cut:].lstrip(" ")
        out.append(line)
    return out
