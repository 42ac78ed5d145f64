"""The digest with no model: the messages that best represent the window, quoted as written, by name.

The offline engine ranks the lines of each part (`extractive_summary`); the parts' picks are ranked again
together when there are more than `MAX_QUOTES`, and shown oldest first with their author and a link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.model.offline import extractive_summary

if TYPE_CHECKING:
    from patterns.digest import ChatLine

MAX_QUOTES = 8
QUOTE_CHARS = 300
_QUOTED_REF = re.compile(r"^•\s*(?:↳\s*)?(m\d+)\s", re.MULTILINE)  # an offline bullet: "• m12 bob: text"


def quoted_refs(offline_text: str) -> list[str]:
    """The refs of the lines the offline engine quoted (its bullets are the lines as the model would see them)."""
    return _QUOTED_REF.findall(offline_text)


def best_quotes(refs: list[str], lines: dict[str, ChatLine]) -> list[str]:
    """At most `MAX_QUOTES` of the parts' quotes: ranked again together when there are more."""
    refs = [ref for ref in dict.fromkeys(refs) if ref in lines]
    if len(refs) <= MAX_QUOTES:
        return refs
    return quoted_refs(extractive_summary("\n".join(lines[ref].render().strip() for ref in refs), MAX_QUOTES))


def quoted_section(
    refs: list[str], lines: dict[str, ChatLine], messages: int, link: Callable[[ChatLine], str | None]
) -> list[str]:
    """Markdown lines: a heading that counts what is quoted of what was read, then one bullet per message."""
    shown = sorted((lines[ref] for ref in refs if ref in lines), key=lambda line: float(line.ts))
    of = f"{len(shown)} of the {messages} messages" if messages > len(shown) else "the messages"
    out = [f"**Key messages** ({of}, quoted as written)"]
    for line in shown:
        text = " ".join(line.text.split())
        text = text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + " …"
        url = link(line)
        out.append(f"- **{line.author}**: {text}" + (f" [link]({url})" if url else ""))
    out.append("")
    return out
