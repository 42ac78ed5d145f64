"""The offline docs answer: the sentences of the best passages that answer the question, quoted as written.

Sentences are ranked by meaning and by words: the cosine between the question and the sentence under the offline
static embedding model (`knowledge.static_model`), plus the share of the question's terms the sentence contains.
Meaning finds "ten days of bereavement leave" for "my father passed away"; words keep exact names and codes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.text import sentences

if TYPE_CHECKING:
    from knowledge.retrieval import Hit

_UNWRAP = re.compile(r"(?<=\S)[ \t]*\n(?![ \t]*(?:\n|[-*+#>|]|\d+\.))")
_LIST_ITEM = re.compile(r"\n[ \t]*(?:[-*+]|\d+\.)[ \t]+")
WORD_WEIGHT = 0.5
MAX_QUOTE = 400


def candidate_sentences(text: str) -> list[str]:
    """A passage's sentences and list items, one line each, without headings or table rules."""
    text = _LIST_ITEM.sub("\n\n", "\n" + text)  # each list item is a sentence of its own
    units = []
    for block in re.split(r"\n\s*\n", text):
        block = _UNWRAP.sub(" ", block.strip())  # a sentence wrapped over lines is still one sentence
        for line in block.splitlines():
            units += [s.strip() for s in sentences(line)]
    useful = [u for u in units if len(u.split()) >= 3 and not u.startswith("#") and not set(u) <= set("|-: ")]
    return useful or [u for u in units if u]


def best_sentences(question: str, question_terms: list[str], passage: str, count: int) -> list[str]:
    """The `count` sentences of the passage that best answer the question, in the passage's order."""
    from knowledge.terms import terms

    candidates = candidate_sentences(passage)
    if len(candidates) <= count:
        return candidates
    wanted = set(question_terms)
    words = [len(wanted & set(terms(s))) / len(wanted) if wanted else 0.0 for s in candidates]
    meaning = _similarities(question, candidates)
    score = [m + WORD_WEIGHT * w for m, w in zip(meaning, words)]
    chosen = sorted(sorted(range(len(candidates)), key=lambda i: -score[i])[:count])
    return [candidates[i] for i in chosen]


def quote(question: str, question_terms: list[str], hit: "Hit", per_passage: int) -> str:
    text = " ".join(best_sentences(question, question_terms, hit.text, per_passage))
    if len(text) > MAX_QUOTE:
        text = text[:MAX_QUOTE].rsplit(" ", 1)[0] + "…"
    return text


def _similarities(question: str, candidates: list[str]) -> list[float]:
    from knowledge import static_model

    try:
        vectors = static_model.embed([question, *candidates])
    except static_model.StaticModelMissing:
        return [0.0] * len(candidates)
    return [float(v) for v in vectors[1:] @ vectors[0]]
