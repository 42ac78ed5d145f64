"""Words as retrieval sees them: lower-cased, stop words removed, stemmed (the same rules BM25 uses).

`Vocabulary` counts in how many passages each term occurs, which gives the IDF weights of `coverage()`: the
share of a question's words (IDF-weighted terms) that a passage contains, on the same 0..1 scale for every
corpus. It is the lexical signal of `knowledge.confidence`, beside the embedding similarity: exact names and
codes count there, while paraphrases are left to meaning.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# Question words and fillers on top of the usual English stop words: they say nothing about the topic.
_EXTRA_STOPWORDS = {
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "does",
    "do",
    "did",
    "can",
    "could",
    "should",
    "would",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "our",
    "ours",
    "we",
    "us",
    "you",
    "your",
    "tell",
    "me",
    "please",
    "know",
    "anyone",
    "get",
    "got",
    "there",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "about",
    "any",
    "need",
    "want",
    "find",
    "have",
    "has",
    "had",
    "having",
    "out",
    "long",
    "many",
    "much",
    "use",
    "used",
    "using",
    "my",
    "mine",
    "i",
    "it",
    "its",
    "am",
    "also",
    "very",
    "just",
    "some",
    "than",
    "then",
    "so",
    "from",
    "with",
    "without",
    "into",
    "onto",
    "over",
    "under",
    "up",
    "down",
    "off",
    "again",
    "more",
    "most",
    "other",
    "own",
    "same",
    "too",
    "only",
    "all",
    "each",
    "few",
    "both",
    "nor",
    "not",
    "no",
    "yes",
    "here",
    "his",
    "her",
    "hers",
    "him",
    "she",
    "he",
    "they",
    "them",
    "their",
    "theirs",
    "this",
    "that",
    "these",
    "those",
    "thanks",
    "thank",
    "hello",
    "hi",
    "hey",
    "ok",
    "okay",
}


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN) | _EXTRA_STOPWORDS


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """The content words of `text` as the user wrote them (stop words dropped, numbers kept), each once."""
    stop = _stopwords()
    seen: dict[str, str] = {}
    for word in _TOKEN.findall(text):
        if word.lower() not in stop:
            seen.setdefault(word.lower(), word)
    return list(seen.values())


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
        self._sorted: list[str] | None = None
        for text in passages:
            self.add(text)

    @classmethod
    def from_bm25(cls, bm25: object) -> Vocabulary:
        """Document frequencies read from a built `bm25s.BM25` index (same tokens and stemmer), not recounted."""
        vocabulary = cls()
        indptr = bm25.scores["indptr"]  # type: ignore[attr-defined]
        vocabulary.size = int(bm25.scores["num_docs"])  # type: ignore[attr-defined]
        vocabulary.df = Counter(
            {
                token: int(indptr[i + 1] - indptr[i])
                for token, i in bm25.vocab_dict.items()  # type: ignore[attr-defined]
                if token and i + 1 < len(indptr)
            }
        )
        return vocabulary

    def add(self, text: str) -> None:
        self.df.update(set(terms(text)))
        self.size += 1

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def coverage(self, question_terms: list[str], passage: str) -> float:
        """IDF-weighted share of the question's distinct terms found in the passage (0..1).

        A question word that no passage contains but that shares its first letters with one that does ("tech"
        and "technical", "config" and "configuration") counts as that word: a paraphrase, not a new topic.
        """
        wanted = set(question_terms)
        if not wanted:
            return 0.0
        present = set(terms(passage))
        total = found = 0.0
        for term in wanted:
            variants = self.variants(term)
            weight = self.weight(term)
            total += weight
            found += weight if any(v in present for v in variants) else 0.0
        return found / total if total else 0.0

    def weight(self, term: str) -> float:
        """A question term's importance: the IDF of the term, or of the indexed words it stands for."""
        return max(self.idf(v) for v in self.variants(term))

    def variants(self, term: str) -> list[str]:
        """The term itself if indexed; else indexed terms it is a prefix of, or that are a prefix of it (4+)."""
        if term in self.df or len(term) < 4:
            return [term]
        if self._sorted is None or len(self._sorted) != len(self.df):
            self._sorted = sorted(self.df)
        found = [term[:n] for n in range(len(term) - 1, 3, -1) if term[:n] in self.df]
        start = bisect.bisect_left(self._sorted, term)
        while start < len(self._sorted) and self._sorted[start].startswith(term) and len(found) < 8:
            found.append(self._sorted[start])
            start += 1
        return found or [term]
