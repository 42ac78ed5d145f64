"""What an agent remembers of its thread: each run's tool calls and results, stored per Slack thread.

The thread's text turns (`bot.storage.conversations`) stay the timeline; a follow-up sees each earlier agent task with
the tool calls it made and their results (clipped) inserted right after the task's user turn, in the model's
native format. So "and by region?" can build on the last query instead of starting over.
"""

from __future__ import annotations

import json

from bot.model.gateway import Message
from bot.storage.agent_runs import AgentRunRecord
from bot.text import estimate_tokens
from patterns.chat import Turn

STORED_RESULT_CHARS = 2_000  # a tool result as kept for follow-ups


def clip_transcript(messages: list[Message]) -> list[Message]:
    """The run's messages after its user turn, tool results clipped for storage."""
    kept = []
    for message in messages[1:] if messages and messages[0].get("role") == "user" else messages:
        if message.get("role") == "tool" and len(message.get("content") or "") > STORED_RESULT_CHARS:
            message = {**message, "content": message["content"][:STORED_RESULT_CHARS] + "…(cut)"}
        kept.append(message)
    return kept


def agent_history(turns: list[Turn], runs: list[AgentRunRecord], *, budget_tokens: int) -> list[Message]:
    """The thread as model messages: text turns, with each agent run's tool calls after its task.

    An agent run replaces the assistant text turn that followed its task (the run's own transcript ends with
    its answer). Whole exchanges are dropped from the oldest end to fit `budget_tokens`.
    """
    pending = list(runs)
    blocks: list[list[Message]] = []
    skip_assistant = False
    for turn in turns:
        if turn.role == "user":
            run = next((r for r in pending if r.task == turn.text), None)
            block: list[Message] = [{"role": "user", "content": turn.text}]
            if run is not None:
                pending.remove(run)
                block.extend(json.loads(run.transcript))
            blocks.append(block)
            skip_assistant = run is not None
        elif turn.role == "assistant":
            if skip_assistant:
                skip_assistant = False
                continue
            if blocks:
                blocks[-1].append({"role": "assistant", "content": turn.text})
    kept: list[list[Message]] = []
    used = 0
    for block in reversed(blocks):
        cost = sum(estimate_tokens(json.dumps(m, ensure_ascii=False)) for m in block)
        if used + cost > budget_tokens:
            break
        kept.append(block)
        used += cost
    return [message for block in reversed(kept) for message in _complete(block)]


def _complete(block: list[Message]) -> list[Message]:
    """A run cut short (Stop, superseded) gets a closing assistant turn before the next user turn."""
    if block and (block[-1].get("role") == "tool" or block[-1].get("tool_calls")):
        return [*block, {"role": "assistant", "content": "(stopped before finishing)"}]
    return block
