"""Plain-text helpers shared by patterns: token estimates, sentence splitting, token-budgeted chunks."""

from __future__ import annotations

import math
import re

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def estimate_tokens(text: str) -> int:
    """A cheap, conservative token estimate (about four characters per token for English text).

    Used only for budgeting (chunk sizes, history trimming); metered figures come from the model's usage.
    """
    return math.ceil(len(text) / 4) if text else 0


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


def word_count(text: str) -> int:
    return len(text.split())


def chunk_by_tokens(text: str, budget: int) -> list[str]:
    """Split text into pieces of at most `budget` estimated tokens, on line, then sentence, then word boundaries."""
    if estimate_tokens(text) <= budget:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in _pieces(text, budget):
        cost = estimate_tokens(piece) + 1
        if current and size + cost > budget:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(piece)
        size += cost
    if current:
        chunks.append("\n".join(current))
    return chunks


def _pieces(text: str, budget: int) -> list[str]:
    """Lines small enough to fit a chunk; an oversized line is split by sentences, then by words."""
    out: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if estimate_tokens(line) <= budget:
            out.append(line)
            continue
        for sentence in sentences(line):
            if estimate_tokens(sentence) <= budget:
                out.append(sentence)
                continue
            words, part = sentence.split(), []
            for word in words:
                if part and estimate_tokens(" ".join(part + [word])) > budget:
                    out.append(" ".join(part))
                    part = []
                part.append(word[: budget * 4])
            if part:
                out.append(" ".join(part))
    return out
