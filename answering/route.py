"""Which pattern answers a message: docs Q&A (rag), plain chat, or an agent task. Predictable by design.

1. An explicit prefix always wins: `docs:` or `ask:` → docs, `chat:` → chat, `agent:` → agent.
2. Otherwise, with no documents indexed → chat; small talk ("Hi! What can you help me with?") → chat.
3. A question (ends with "?" or starts with a question word) that names something (at least one content word
   after stop words) → docs; the docs pattern says plainly when the documents do not contain it.
4. Anything else, requests to write something included ("Can you write a Python function ...?"), → docs only
   if retrieval is confident the documents answer it (`knowledge.confidence`), else chat.
The choice is the ledger row's `pattern`; `reason` is logged with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.intent import is_small_talk, is_write_request

if TYPE_CHECKING:
    from bot.model.metering import Meter
    from knowledge.library import Library
    from knowledge.retrieval import SearchResult

PREFIXES = {"docs": "rag", "ask": "rag", "chat": "chat", "agent": "agent"}
_PREFIX = re.compile(r"^\s*(docs|ask|chat|agent)\s*:\s*", re.IGNORECASE)
_QUESTION_WORD = re.compile(
    r"^\s*(what|what's|whats|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|may|must|has|have|had|any|anyone)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Route:
    pattern: str  # "rag" | "chat" | "agent"
    text: str  # the message without its prefix
    reason: str  # "prefix" | "no_docs" | "small_talk" | "question" | "docs_hit" | "no_docs_hit"
    search: SearchResult | None = None


def explicit(text: str) -> Route | None:
    match = _PREFIX.match(text)
    if not match:
        return None
    return Route(PREFIXES[match.group(1).lower()], text[match.end() :].strip(), "prefix")


def is_question(text: str) -> bool:
    return text.rstrip().endswith("?") or bool(_QUESTION_WORD.match(text))


def route(text: str, library: Library, *, meter: Meter) -> Route:
    """Decide; may search the docs (a few milliseconds) and hands the result on so it is not repeated."""
    from knowledge.terms import terms

    if chosen := explicit(text):
        return chosen
    if not library.has_documents():
        return Route("chat", text, "no_docs")
    if is_small_talk(text):
        return Route("chat", text, "small_talk")
    if is_question(text) and terms(text) and not is_write_request(text):
        return Route("rag", text, "question")
    result = library.search(text, meter=meter)
    confident = result.confidence.level == "high"
    return Route("rag", text, "docs_hit", result) if confident else Route("chat", text, "no_docs_hit")
