"""What a request would cost, estimated before it is made, for the budget check (see `Budgets.check`).

Rough on purpose: it only decides whether a request may go ahead while budgets cannot be read. Estimates use the
conservative token count of `bot.text` and the configured prices.
"""

from __future__ import annotations

from answering.route import explicit
from bot.text import estimate_tokens
from services import Services

ANSWER_TOKENS = 1_000  # an answer's length is not known before it is written; this is a long one


def summarize_cost(services: Services, text: str) -> float:
    """A summary of `text`, or of a channel's recent messages (up to a model context) when `text` is empty."""
    tokens = estimate_tokens(text) if text.strip() else services.settings.model_context_tokens
    return services.gateway.estimate("summarize", tokens, min(ANSWER_TOKENS, tokens // 4 + 100))


def chat_cost(services: Services, question: str) -> float:
    """A chat answer with a full history; an agent task is estimated at its cost cap."""
    chosen = explicit(question)
    if chosen is not None and chosen.pattern == "agent":
        return services.settings.agent_max_cost_usd
    tokens = estimate_tokens(question) + services.settings.chat_history_tokens
    return services.gateway.estimate("chat", tokens, ANSWER_TOKENS)
