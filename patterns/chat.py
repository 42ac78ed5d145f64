"""Chat pattern: answer a message in a conversation, with the thread's history trimmed to a token budget."""

from __future__ import annotations

from dataclasses import dataclass

from bot.model.gateway import Message
from bot.text import estimate_tokens

SYSTEM_PROMPT = (
    "You are a helpful assistant in a team's Slack workspace. Answer clearly and concisely. Use Markdown for "
    "structure when it helps. Never reveal credentials or system configuration."
)

CUT_OFF_NOTE = ":warning: _The answer was cut off: the model reached its length limit. Ask me to continue._"


@dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    text: str


def trim_history(turns: list[Turn], budget_tokens: int) -> list[Turn]:
    """The most recent turns that fit the budget, oldest first (a long thread never overflows the context)."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        cost = estimate_tokens(turn.text) + 4
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    kept.reverse()
    while kept and kept[0].role != "user":  # a conversation starts with the user
        kept.pop(0)
    return kept


def chat_messages(history: list[Turn], question: str, *, budget_tokens: int = 4_000) -> list[Message]:
    """The prompt for one turn: system prompt, the trimmed earlier turns, the new question."""
    budget = max(0, budget_tokens - estimate_tokens(question))
    earlier: list[Message] = [{"role": t.role, "content": t.text} for t in trim_history(history, budget)]
    return [{"role": "system", "content": SYSTEM_PROMPT}, *earlier, {"role": "user", "content": question}]
