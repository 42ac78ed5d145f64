"""The offline docs answer: the sentences of the best passages that answer the question, quoted as written.

Sentences are ranked by meaning and by words: the cosine between the question and the sentence under the offline
static embedding model (`knowledge.static_model`), plus the share of the question's terms the sentence contains.
Meaning finds "13 days ... for bereavement" for "my father passed away"; words keep exact names and codes; and a
question asking for a quantity ("how long", "when", "how much") prefers a sentence that states one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bot.text import sentences

if TYPE_CHECKING:
    from knowledge.retrieval import Hit

_UNWRAP = re.compile(r"(?<=\S)[ \t]*\n(?![ \t]*(?:\n|[-*+#>|]|\d+\.))")
_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+\.)[ \t]+(.*)$")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"<[^>]{1,200}>")
WORD_WEIGHT = 0.5
NUMBER_WEIGHT = 0.15  # a "how much / how long / when" question is answered by a sentence with a quantity
_QUANTITY_QUESTION = re.compile(
    r"\b(how (much|many|long|often|soon|far|quickly|fast)|when|after how|within how|"
    r"what (amount|percentage|rate)|cap|maximum|minimum|limit)\b",
    re.IGNORECASE,
)
_QUANTITY = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|"
    r"hundred|half|quarter|weekly|monthly|yearly|annually|daily)\b",
    re.IGNORECASE,
)
MAX_QUOTE = 400
SHORT_ITEM = 8  # words: a list of items this short reads as one sentence with the line that introduces it


def candidate_sentences(text: str) -> list[str]:
    """A passage's sentences and list items, one line each, without headings, table rules or link targets.

    A line ending with ":" followed by a list of short items becomes one unit ("What is in a new hire gift:
    Hoodie; Socks; Stickers"), so a quote of it carries the items.
    """
    text = _HTML.sub("", _LINK.sub(r"\1", text))
    units: list[str] = []
    lines = _UNWRAP.sub(" ", text).splitlines()  # a sentence wrapped over lines is still one sentence
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        items = []
        while line.endswith(":"):
            ahead = index
            while ahead < len(lines) and not lines[ahead].strip():
                ahead += 1
            match = _ITEM.match(lines[ahead]) if ahead < len(lines) else None
            if not match or len(match.group(1).split()) > SHORT_ITEM:
                break
            items.append(match.group(1).strip())
            index = ahead + 1
        if items:
            head = sentences(line)
            units += head[:-1] + [f"{head[-1] if head else line} {'; '.join(items)}"]
            continue
        if match := _ITEM.match(line):
            line = match.group(1)
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
    quantity = bool(_QUANTITY_QUESTION.search(question))
    score = [
        m + WORD_WEIGHT * w + (NUMBER_WEIGHT if quantity and _QUANTITY.search(c) else 0.0)
        for m, w, c in zip(meaning, words, candidates)
    ]
    chosen = sorted(sorted(range(len(candidates)), key=lambda i: -score[i])[:count])
    return [candidates[i] for i in chosen]


def quote(question: str, question_terms: list[str], hit: Hit, per_passage: int) -> str:
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
