"""The offline engine: answers with no model configured, honestly and without network.

It never pretends to be a model: summaries are the highest-ranked sentences of the input, quoted as they are,
and every answer carries `OFFLINE_NOTE` so the reader knows no model wrote it.
"""

from __future__ import annotations

import re
from collections import Counter

from bot.model.offline_chat import offline_chat_reply
from bot.text import sentences

OFFLINE_MODEL = "offline-extractive"
OFFLINE_NOTE = (
    "_No model is configured: this answer comes from the offline engine, which quotes the input instead of "
    "writing new text. Set `OPENAI_BASE_URL` and `OPENAI_API_KEY` to use a language model._"
)
OFFLINE_CHAT_NOTE = (
    "_No model is configured. To connect one, set `OPENAI_BASE_URL` (and `OPENAI_API_KEY` if it needs one) to any "
    "OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp._"
)

_WORD = re.compile(r"[\w']+")
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have he her his i if in into is it
    its just me my no not of on or our she so that the their them then there these they this to too us was we were
    what when which who will with would you your about all also any been being more most other some such than very
    ok okay yes yeah thanks thank hi hello""".split()
)


def extractive_summary(text: str, max_sentences: int = 5) -> str:
    """The `max_sentences` sentences that best represent the text, in their original order, as bullets.

    A transcript (several short lines, such as `Name: message`) is ranked line by line so speakers stay attached.
    """
    candidates = [s for s in _units(text) if len(_WORD.findall(s)) >= 3]
    if not candidates:
        return text.strip()
    frequencies = Counter(w for s in candidates for w in _content_words(s))
    top = max(frequencies.values(), default=1)

    def score(sentence: str) -> float:
        words = _content_words(sentence)
        return sum(frequencies[w] / top for w in set(words)) / (len(words) ** 0.5 or 1)

    ranked = sorted(range(len(candidates)), key=lambda i: score(candidates[i]), reverse=True)[:max_sentences]
    return "\n".join(f"• {candidates[i]}" for i in sorted(ranked))


def offline_reply(task: str, prompt_text: str) -> str:
    """What the offline engine says for a task: an extractive summary, or an honest 'no model' reply."""
    if task == "summarize":
        return extractive_summary(prompt_text)
    return offline_chat_reply(prompt_text)


def _units(text: str) -> list[str]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and all(len(line) <= 400 for line in lines):
        return lines
    return sentences(text)


def _content_words(sentence: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(sentence)) if w not in _STOPWORDS and not w.isdigit()]
