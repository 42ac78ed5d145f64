"""The offline docs answer: the sentences of the best passages that answer the question, quoted as written.

A passage is cut into whole sentences: list markers, headings, link targets and wrapped-line indentation are
removed, and each bullet is its own unit, so one quote never glues two bullets together. (A line ending with ":"
followed by a list of short items stays one unit, "Each new hire gets: a hoodie; socks; stickers", so its quote
carries the items.) Sentences are ranked across the passages by meaning and by words: the cosine between the
question and the sentence under the offline static embedding model (`knowledge.static_model`), plus the
IDF-weighted share of the question's terms the sentence contains, and a question asking for a quantity ("how
long", "when", "how much") prefers a sentence that states one, and more so one of the kind asked (an amount of
money for "pay", "budget", "cap"; a duration for "how long", "how quickly", "within"). Meaning finds "13 days
... for bereavement" for "my father passed away"; words keep exact names and codes. Each chosen sentence is one
quote.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.retrieval import Hit

_UNWRAP = re.compile(r"(?<=\S)[ \t]*\n(?![ \t]*(?:\n|[-*+>|]|#{1,6}[ \t]|\d+[.)][ \t]))[ \t]*")
_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d+[.)])[ \t]+(.*)$")
_HEADING = re.compile(r"^#{1,6}[ \t]")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"<[^>]{1,200}>")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^\s<>]+)>")
_CODE_SPAN = re.compile(r"(`+)[^`\n]+?\1")
_CALLOUT = re.compile(r"^(?:>[ \t]*)+(?:\[![A-Z]+\][ \t]*)?")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]*_]*\s+(?=[\"'“‘(\[*_]*[A-Z0-9$€£])")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|approx|incl|no|mr|mrs|ms|dr|st|jr|sr|inc|ltd)|\b[A-Z])\.$", re.I)
_ITEM_TAIL = re.compile(r"(?:[,;]\s*(?:and|or)?|\s+(?:and|or))\s*$")
WORD_WEIGHT = 0.5
NUMBER_WEIGHT = 0.15  # a "how much / how long / when" question is answered by a sentence with a quantity
RANK_WEIGHT = 0.03  # per place a passage stands below the best one: retrieval saw the passage's context
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
_MONEY_QUESTION = re.compile(
    r"\b(cost|costs|pay|pays|paid|spend|spent|budget|allowance|reimburs\w*|price|stipend|toward|towards|cap|"
    r"afford|money|expense\w*)\b",
    re.IGNORECASE,
)
_MONEY = re.compile(r"[$€£]\s?\d|\d[\d,.]*\s?(usd|eur|gbp|dollars?|euros?)\b", re.IGNORECASE)
_TIME_QUESTION = re.compile(r"\b(how (long|quickly|soon|often|fast)|when|within|deadline)\b", re.IGNORECASE)
_DURATION = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty)[\s-]*"
    r"(minutes?|hours?|days?|weeks?|months?|years?|business days?|pay periods?)\b",
    re.IGNORECASE,
)
TYPED_WEIGHT = 0.1  # and more when the quantity is of the kind asked: an amount of money, or a duration
MAX_QUOTE = 400
SHORT_ITEM = 8  # words: a list of items this short reads as one sentence with the line that introduces it
INTRO_WORDS = 12  # words: a line introducing a list this short is quoted with each of its longer items


@dataclass(frozen=True)
class Quote:
    text: str  # one whole sentence (or a line introducing a short list, with its items)
    passage: int  # index of the passage it comes from
    score: float


def split_sentences(text: str) -> list[str]:
    """Sentences of one line of prose; "e.g. This" and initials ("J. Smith") do not end a sentence."""
    pieces = [p for p in _SENTENCE_END.split(text) if p.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and _ABBREVIATION.search(merged[-1].rstrip("\"'”’)]*_")):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return [m.strip() for m in merged]


def candidate_sentences(text: str) -> list[str]:
    """A passage's sentences and list items, one unit each, without list markers, headings or link targets.

    A line ending with ":" reads with the list under it: short items join it in one unit ("Each new hire gets:
    a hoodie; socks; stickers."); longer ones each become a unit that starts with it when it is short ("Three to
    five weeks in advance for: Conference events that cost more than $2,500."), so a quote keeps its meaning. A
    long line that announces longer items is quoted with the first sentence of each ("We have 2 severity levels
    ...: Critical - Very high impact; Major - Significant impact."): alone, it says there is an answer, not what.
    """
    text = _without_markup(text)
    lines = _UNWRAP.sub(" ", text).splitlines()  # a sentence wrapped over lines is still one sentence
    units: list[str] = []
    index = 0
    while index < len(lines):
        raw = lines[index]
        line = _clean(raw)
        index += 1
        nested = bool(_ITEM.match(line))
        if match := _ITEM.match(line):
            line = match.group(1).strip()
        items: list[str] = []
        while line.endswith(":"):
            ahead = index
            while ahead < len(lines) and not lines[ahead].strip():
                ahead += 1
            item = _ITEM.match(_clean(lines[ahead])) if ahead < len(lines) else None
            if not item or (nested and _indent(lines[ahead]) <= _indent(raw)):
                break
            if body := _ITEM_TAIL.sub("", item.group(1).strip()):
                items.append(body)
            index = ahead + 1
        head = split_sentences(line) if line else []
        intro = head[-1] if head else line
        if items and all(len(i.split()) <= SHORT_ITEM for i in items):
            units += head[:-1] + [f"{intro} {'; '.join(i.rstrip('.,;') for i in items)}."]
        elif items:
            long_intro = len(intro.split()) > INTRO_WORDS
            units += head[:-1]
            if long_intro:  # announces the items, so it is quoted with the start of each
                units.append(f"{intro} {'; '.join(split_sentences(i)[0].rstrip('.,;') for i in items)}.")
            for item in items:
                sentences = split_sentences(item)
                if not long_intro:
                    sentences[0] = f"{intro} {sentences[0]}"
                units += [u if u[-1] in ".!?…" else f"{u.rstrip(',;')}." for u in sentences]
        else:
            units += head
    useful = [
        u for u in units if len(u.split()) >= 3 and not _HEADING.match(u) and not set(u) <= set("|-:= ") and _words(u)
    ]
    return useful or [u for u in units if u]


def pick_quotes(
    question: str,
    passages: Sequence[Hit],
    *,
    weight: Callable[[str], float] | None = None,
    count: int = 3,
    per_passage: int = 2,
) -> list[Quote]:
    """The `count` sentences of the passages that best answer the question, best first (at most `per_passage`
    from one passage). `weight` gives a question term's importance (its IDF in the index); default 1."""
    from knowledge.terms import terms

    candidates = [(n, s) for n, hit in enumerate(passages) for s in dict.fromkeys(candidate_sentences(hit.text))]
    if not candidates:
        return []
    wanted = set(terms(question))
    weights = {t: (weight(t) if weight else 1.0) for t in wanted}
    total = sum(weights.values())
    meaning = _similarities(question, [s for _, s in candidates])
    quantity = bool(_QUANTITY_QUESTION.search(question))
    money, duration = bool(_MONEY_QUESTION.search(question)), bool(_TIME_QUESTION.search(question))
    scored = []
    for (n, sentence), similarity in zip(candidates, meaning):
        present = set(terms(sentence))
        words = sum(w for t, w in weights.items() if t in present) / total if total else 0.0
        bonus = NUMBER_WEIGHT if quantity and _QUANTITY.search(sentence) else 0.0
        if (money and _MONEY.search(sentence)) or (duration and _DURATION.search(sentence)):
            bonus += TYPED_WEIGHT
        scored.append(Quote(_shorten(sentence), n, similarity + WORD_WEIGHT * words + bonus - RANK_WEIGHT * n))
    chosen: list[Quote] = []
    taken: dict[int, int] = {}
    for candidate in sorted(scored, key=lambda q: -q.score):
        if taken.get(candidate.passage, 0) < per_passage and candidate.text not in {q.text for q in chosen}:
            chosen.append(candidate)
            taken[candidate.passage] = taken.get(candidate.passage, 0) + 1
        if len(chosen) == count:
            break
    return chosen


def _without_markup(text: str) -> str:
    """Link labels for Markdown links and the address for autolinks; HTML tags dropped, except inside code spans,
    where `<placeholder>` is part of what the reader must type."""

    def prose(part: str) -> str:
        return _HTML.sub("", _AUTOLINK.sub(r"\1", part))

    text = _LINK.sub(r"\1", text)
    parts, position = [], 0
    for span in _CODE_SPAN.finditer(text):
        parts += [prose(text[position : span.start()]), span.group()]
        position = span.end()
    return "".join([*parts, prose(text[position:])])


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _clean(line: str) -> str:
    """One line with Markdown callout markers and runs of spaces removed."""
    return re.sub(r"[ \t]+", " ", _CALLOUT.sub("", line.strip())).strip()


def _words(text: str) -> bool:
    return bool(re.search(r"[A-Za-z]{2}", text))


def _shorten(sentence: str) -> str:
    if len(sentence) <= MAX_QUOTE:
        return sentence
    return sentence[:MAX_QUOTE].rsplit(" ", 1)[0] + "…"


def _similarities(question: str, candidates: list[str]) -> list[float]:
    from knowledge import static_model

    try:
        vectors = static_model.embed([question, *candidates])
    except static_model.StaticModelMissing:
        return [0.0] * len(candidates)
    return [float(v) for v in vectors[1:] @ vectors[0]]
