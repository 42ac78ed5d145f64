"""The top of the App Home tab: what the bot can do, with examples that run when clicked.

A click on an example (`EXAMPLE_ACTION`, the text as the value) is answered in the user's DM with the bot, as if
they had written it there (`handlers/home.py`).
"""

from __future__ import annotations

from typing import Any

EXAMPLE_ACTION = "home_example"
EXAMPLES = (
    ("What can you do?", "Hi! What can you help me with?"),
    ("Tables the agent reads", "agent: schema"),
    ("Sales so far (SQL)", "agent: sql SELECT count(*) AS sales, round(sum(amount), 2) AS total FROM sales"),
    ("Growth (calculate)", "agent: calculate (1250 - 1100) / 1100 * 100"),
    ("Ask the docs", "docs: how do we deploy?"),
)


def home_intro(*, offline: bool) -> list[dict[str, Any]]:
    """Blocks that open the Home tab; `offline`: no model is configured, so say what works without one."""
    model = (
        "*No language model is connected yet.* Everything below works without one: summaries and digests quote "
        "the key messages, docs answers quote the documents, and the agent runs the tool you name. To connect a "
        "model, set `OPENAI_BASE_URL` (and `OPENAI_API_KEY`) to any OpenAI-compatible server."
        if offline
        else "A language model is connected: chat, docs answers, digests and agent tasks are written by it."
    )
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Team AI"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*What I can do*\n"
                "• `/summarize` a text, or this channel's recent messages\n"
                "• Answer questions about the team's documents: `@Team AI docs: ...`\n"
                "• Chat in threads and in this DM: `@Team AI ...`\n"
                "• `/digest` a channel (or `/digest #a #b since 7d`; `/digest daily #c 09:00` on a schedule)\n"
                "• Agent tasks with SQL, schema, calculator and docs tools: `@Team AI agent: ...`\n"
                "• `/usage`: what you have used (your usage is below)",
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": model}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Try one* (the answer comes in our DM)"}},
        {
            "type": "actions",
            "block_id": "home_examples",
            "elements": [
                {
                    "type": "button",
                    "action_id": f"{EXAMPLE_ACTION}_{i}",
                    "text": {"type": "plain_text", "text": label},
                    "value": text,
                }
                for i, (label, text) in enumerate(EXAMPLES)
            ],
        },
        {"type": "divider"},
    ]
