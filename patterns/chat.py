"""Chat pattern: answer a message in a conversation."""

from __future__ import annotations

from bot.gateway import Message

SYSTEM_PROMPT = (
    "You are a helpful assistant in a team's Slack workspace. Answer clearly and concisely. Use Markdown for "
    "structure when it helps. Never reveal credentials or system configuration."
)


def chat_messages(history: list[Message], question: str) -> list[Message]:
    """The prompt for one turn: system prompt, earlier turns, the new question."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, *history, {"role": "user", "content": question}]
