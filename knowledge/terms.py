"""Words as retrieval sees them: lower-cased, stop words removed, stemmed (the same rules BM25 uses).

`Vocabulary` counts in how many passages each term occurs, which gives the IDF weights of `coverage()`: the
share of a question's meaning (IDF-weighted terms) that a passage contains. Unlike BM25 scores or cosines,
coverage is on the same 0..1 scale for every corpus and embedding model, so one threshold (`RAG_MIN_SCORE`)
can decide "this is not in the docs": a question whose rare words appear in no passage scores near 0.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# Question words and fillers on top of the usual English stop words: they say nothing about the topic.
_EXTRA_STOPWORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "does", "do", "did",
                    "can", "could", "should", "would", "will", "shall", "may", "might", "must", "our", "ours",
                    "we", "us", "you", "your", "tell", "me", "please", "know", "anyone", "get", "got", "there",
                    "is", "are", "was", "were", "be", "been", "about", "any", "need", "want", "find"}


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | _EXTRA_STOPWORDS


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """The stemmed content words of `text`, in order (duplicates kept)."""
    stop = _stopwords()
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stop and not w.isdigit()]
    return _stemmer().stemWords(words) if words else []


class Vocabulary:
    """Document frequencies over the indexed passages."""

    def __init__(self, passages: Iterable[str] = ()) -> None:
        self.df: Counter[str] = Counter()
        self.size = 0
        for text in passages:
            self.add(text)

    def add(self, text: str) -> None:
        self.df.update(set(terms(text)))
        self.size += 1

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def coverage(self, question_terms: list[str], passage: str) -> float:
        """IDF-weighted share of the question's distinct terms found in the passage (0..1)."""
        wanted = set(question_terms)
        if not wanted:
            return 0.0
        present = set(terms(passage))
        total = sum(self.idf(t) for t in wanted)
        found = sum(self.idf(t) for t in wanted if t in present)
        return found / total if total else 0.0
