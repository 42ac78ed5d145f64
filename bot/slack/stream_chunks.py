"""Structured parts of a native stream (`chat.appendStream` chunks): an agent's plan and each of its tool calls.

A stream of text can carry `StepText`: a line of the answer that, in a native stream, Slack shows as a task of
the plan (`task_update` chunk) instead of as text. The line itself stays in the answer's text, so the edits
transport (and a native stream that falls back to edits) shows it as before.
"""

from __future__ import annotations

from typing import Any

from bot.slack.mrkdwn import inert_markdown

TASK_STATUSES = ("pending", "in_progress", "complete", "error")


class StepText(str):
    """Text that a native stream sends as the `chunk` it carries."""

    chunk: dict[str, Any]

    def __new__(cls, text: str, chunk: dict[str, Any]) -> StepText:
        value = super().__new__(cls, text)
        value.chunk = chunk
        return value


def plan_chunk(title: str) -> dict[str, Any]:
    return {"type": "plan_update", "title": inert_markdown(" ".join(title.split())[:150]) or "Plan"}


def task_chunk(task_id: str, title: str, *, status: str, output: str = "", details: str = "") -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "type": "task_update",
        "id": task_id,
        "title": inert_markdown(title[:150]),
        "status": status,
    }
    if output:
        chunk["output"] = inert_markdown(output[:500])
    if details:
        chunk["details"] = inert_markdown(details[:500])
    return chunk


def stream_chunks(text: str, start: int, steps: list[tuple[int, int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The chunks for `text[start:]`: markdown_text for plain text, each step's own chunk for its line."""
    chunks: list[dict[str, Any]] = []
    position = start
    for begin, end, chunk in steps:
        if end <= start:
            continue
        if begin > position and text[position:begin].strip():
            chunks.append({"type": "markdown_text", "text": inert_markdown(text[position:begin])})
        chunks.append(chunk)
        position = max(position, end)
    if text[position:]:
        chunks.append({"type": "markdown_text", "text": inert_markdown(text[position:])})
    return chunks
