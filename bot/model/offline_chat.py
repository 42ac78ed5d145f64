"""What the offline engine says in a conversation: a greeting that lists what works without a model, or an
honest "I can't write that" with the same list. It never pretends to be a model."""

from __future__ import annotations

from bot.intent import is_small_talk

CAPABILITIES = (
    "What works without a model:\n"
    "• `/summarize <text>`, or `/summarize` alone for this channel: its key sentences, quoted.\n"
    "• Questions about the team's documents (`docs: how many vacation days do we get?`): quotes from the "
    "documents, with their sources.\n"
    "• `/digest` (or `/digest #channel since 7d`): the channel's key messages and who wrote them.\n"
    "• `agent: schema`, `agent: sql SELECT ...` and `agent: calculate 1250 * 1.08`: the agent's tools, run as "
    "written, on the agent's database (demo sales data out of the box).\n"
    "• `/usage` and the App Home tab: requests, costs and budgets.\n"
    "Free-form chat and agent tasks in plain words need a language model."
)


def offline_chat_reply(text: str) -> str:
    if is_small_talk(text):
        return "Hi! I'm Team AI, the team's assistant in Slack. No language model is connected yet.\n\n" + CAPABILITIES
    return "I can't write a free-form answer because no language model is configured.\n\n" + CAPABILITIES
