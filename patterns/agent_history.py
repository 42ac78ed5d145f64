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
    run_of = _pair_runs(turns, runs)
    blocks: list[list[Message]] = []
    skip_assistant = False
    for index, turn in enumerate(turns):
        if turn.role == "user":
            run = run_of.get(index)
            block: list[Message] = [{"role": "user", "content": turn.text}]
            if run is not None:
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


def _pair_runs(turns: list[Turn], runs: list[AgentRunRecord]) -> dict[int, AgentRunRecord]:
    """Each user turn's agent run, paired from the newest: `turns` may be only a long DM's recent ones, while
    `runs` go back further, and an old run of the same task must not attach to a new turn."""
    pending = list(runs)
    paired: dict[int, AgentRunRecord] = {}
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "user":
            run = next((r for r in reversed(pending) if r.task == turns[index].text), None)
            if run is not None:
                pending.remove(run)
                paired[index] = run
    return paired


def _complete(block: list[Message]) -> list[Message]:
    """A run cut short (Stop, superseded) gets a closing assistant turn before the next user turn."""
    if block and (block[-1].get("role") == "tool" or block[-1].get("tool_calls")):
        return [*block, {"role": "assistant", "content": "(stopped before finishing)"}]
    return block
